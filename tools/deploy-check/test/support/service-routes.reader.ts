import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ROOT, SERVICES, type ServiceName, repoPath } from './tools.helper';

/** One HTTP route a service's code serves: `GET /v1/accounts/:accountId`. */
export interface ServiceRoute {
  service: ServiceName;
  method: string;
  /** With the `:param` segments of the decorators. */
  path: string;
  /** The controller file, relative to the repository root. */
  file: string;
}

function controllerFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return controllerFiles(path);
    return entry.endsWith('.controller.ts') ? [path] : [];
  });
}

const join2 = (prefix: string, sub: string) =>
  `/${[prefix, sub]
    .map((p) => p.replace(/^\/+|\/+$/g, ''))
    .filter(Boolean)
    .join('/')}`;

/**
 * Every route the four services declare, read from their NestJS controllers
 * (`@Controller('prefix')` then `@Get('sub')`, `@Post()`, ...; several
 * controllers a file are read in order). The platform's own routes
 * (`/health/*`, `/metrics`, `/docs`) come from libs/platform, not from here.
 */
export function serviceRoutes(): ServiceRoute[] {
  const routes: ServiceRoute[] = [];
  for (const { name } of SERVICES) {
    for (const path of controllerFiles(repoPath('services', name, 'src'))) {
      const text = readFileSync(path, 'utf8');
      let prefix: string | undefined;
      const decorators =
        /@(Controller|Get|Post|Put|Patch|Delete)(?:<[^>]*>)?\(\s*(?:'([^']*)'|"([^"]*)")?\s*\)/g;
      for (const m of text.matchAll(decorators)) {
        const kind = m[1]!;
        const arg = m[2] ?? m[3] ?? '';
        if (kind === 'Controller') {
          prefix = arg;
          continue;
        }
        if (prefix === undefined) throw new Error(`${path}: @${kind} before any @Controller`);
        routes.push({
          service: name,
          method: kind.toUpperCase(),
          path: join2(prefix, arg),
          file: relative(ROOT, path),
        });
      }
    }
  }
  return routes;
}

/** `/v1/accounts/:accountId` as a pattern that a sample path (`/v1/accounts/3c2d1e0f`) matches. */
export function routePattern(path: string): RegExp {
  const source = path
    .split('/')
    .map((segment) =>
      segment.startsWith(':') ? '[^/]+' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
    )
    .join('/');
  return new RegExp(`^${source}$`);
}
