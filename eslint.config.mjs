// Flat ESLint config: typescript-eslint type-checked rules, and Nx module
// boundaries so that no service imports another and libs/contracts imports
// nothing of ours.
import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

/** Who may import whom: no service imports another; libs/contracts imports nothing of ours. */
const DEP_CONSTRAINTS = [
  { sourceTag: 'scope:contracts', onlyDependOnLibsWithTags: [] },
  { sourceTag: 'scope:shared', onlyDependOnLibsWithTags: ['scope:contracts', 'scope:shared'] },
  { sourceTag: 'type:service', onlyDependOnLibsWithTags: ['scope:contracts', 'scope:shared'] },
  { sourceTag: 'scope:tools', onlyDependOnLibsWithTags: ['scope:contracts', 'scope:shared', 'scope:tools'] },
];

/** A service's tests may also use the tools (carrier simulator, stack); still never another service. */
const TEST_DEP_CONSTRAINTS = DEP_CONSTRAINTS.map((c) =>
  c.sourceTag === 'type:service' ? { ...c, onlyDependOnLibsWithTags: [...c.onlyDependOnLibsWithTags, 'scope:tools'] } : c,
);

/** The one program that composes services: the embedded one-process mode loads their builds. */
const EMBEDDED_SERVICE_IMPORTS = ['identity', 'otp', 'notifier', 'delivery-otp'].flatMap((name) => [
  `../../../services/${name}/dist/service.js`,
  `../../../services/${name}/src/service`,
]);

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'coverage/**', '**/*.js', '**/*.mjs', '**/*.cjs'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { project: './tsconfig.json', tsconfigRootDir: import.meta.dirname },
    },
    plugins: { '@nx': nx },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/unbound-method': 'off',
      'no-console': 'error',
      '@nx/enforce-module-boundaries': ['error', { allow: [], depConstraints: DEP_CONSTRAINTS }],
    },
  },
  {
    files: ['**/*.spec.ts', '**/*-spec.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      'no-console': 'off',
    },
  },
  {
    files: ['services/*/test/**/*.ts', 'services/**/*.spec.ts'],
    rules: { '@nx/enforce-module-boundaries': ['error', { allow: [], depConstraints: TEST_DEP_CONSTRAINTS }] },
  },
  {
    files: ['tools/embedded/src/**/*.ts'],
    rules: {
      '@nx/enforce-module-boundaries': ['error', { allow: EMBEDDED_SERVICE_IMPORTS, depConstraints: DEP_CONSTRAINTS }],
    },
  },
);
