import { DomainError } from '@phonegate/platform';

export function unknownTemplateError(template: string, channel: string): DomainError {
  return new DomainError(
    'unknown_template',
    `There is no template "${template}" for channel ${channel}.`,
    { template, channel },
    false,
  );
}

export function missingVariablesError(missing: readonly string[]): DomainError {
  return new DomainError(
    'validation_failed',
    `The template needs these variables: ${missing.join(', ')}.`,
    {
      errors: missing.map((name) => ({
        field: `variables.${name}`,
        code: 'required',
        message: 'required by the template',
      })),
    },
    false,
  );
}
