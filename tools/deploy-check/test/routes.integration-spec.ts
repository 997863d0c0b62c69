import { upstreamFor } from '@phonegate/gateway';
import { API_ROUTES, PRIVATE_PATHS } from './support/api-routes';
import { routePattern, serviceRoutes } from './support/service-routes.reader';

/**
 * The list of public routes that the gateway (nginx.integration-spec.ts) and
 * the Ingress (kubernetes.integration-spec.ts) are checked against, checked
 * itself against the code: a route a service's controllers declare and the
 * list lacks would answer 404 through the deployed gateway, or reach the wrong
 * service (every /v1/accounts/... path goes to identity unless told otherwise).
 */
const declared = serviceRoutes();

describe('the public routes (tools/deploy-check/test/support/api-routes.ts)', () => {
  it('are read from the services’ controllers (the reader finds them)', () => {
    expect(declared.length).toBeGreaterThanOrEqual(API_ROUTES.length / 2);
    expect(new Set(declared.map((r) => r.service)).size).toBe(4);
  });

  it.each(declared.map((r) => [r.method, r.path, r.service, r.file] as const))(
    '%s %s (%s, %s) is listed, owned by its service',
    (method, path, service) => {
      const pattern = routePattern(path);
      const listed = API_ROUTES.filter(([m, p]) => m === method && pattern.test(p.split('?')[0]!));
      expect(listed.map(([, , s]) => s)).toEqual([service]);
    },
  );

  it('lists no route that no service serves', () => {
    for (const [method, path, service] of API_ROUTES) {
      const clean = path.split('?')[0]!;
      const served = declared.filter(
        (r) => r.method === method && r.service === service && routePattern(r.path).test(clean),
      );
      expect({ method, path, served: served.length }).toEqual({ method, path, served: 1 });
    }
  });

  it('route to the same services through the local gateway of `npm start` (tools/gateway)', () => {
    for (const [method, path, service] of API_ROUTES)
      expect({ method, path, upstream: upstreamFor(path) }).toEqual({
        method,
        path,
        upstream: service,
      });
    for (const path of PRIVATE_PATHS.filter((p) => !p.startsWith('/v1/')))
      expect({ path, upstream: upstreamFor(path) }).toEqual({ path, upstream: undefined });
  });
});
