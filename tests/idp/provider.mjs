// A real OpenID provider (oidc-provider) on loopback, standing in for a council's identity
// provider in the tests. Started by tests/identity_provider.py; configured by one JSON object in
// the IDP_CONFIG environment variable (or a path to such a file as the first argument):
//
//   {
//     "port": 45678,                          // required; listens on 127.0.0.1 only
//     "issuer": "http://127.0.0.1:45678",     // default: http://127.0.0.1:<port>
//     "clients": [ ...oidc-provider client metadata, e.g.
//       {"client_id": "desk", "client_secret": "...", "redirect_uris": ["http://.../callback"],
//        "grant_types": ["authorization_code"], "response_types": ["code"]},
//       {"client_id": "api-caller", "client_secret": "...", "grant_types": ["client_credentials"],
//        "response_types": [], "redirect_uris": [], "roles": ["manager"]} ],
//     "accounts": {"some.login": ["supervisor"], "nobody": []},  // login name -> roles claim
//     "resource": "https://api.example/",    // default resource (audience) of JWT access tokens
//     "firstPartyClients": ["desk"],         // clients that skip the consent screen
//     "conformIdTokenClaims": true,          // true: profile/roles claims only from userinfo
//     "keys": [ ...private RSA JWKs with "kid" ] // signing keys, the first signs; default: a
//                                            // fresh one per run. All are published at /jwks.
//   }
//
// For the tests only, two control endpoints on the same port: GET /__control/stats answers
// {"jwks_requests": n} (how often /jwks was fetched since start), and POST
// /__control/jwks?mode=junk makes /jwks answer a junk body (mode=normal restores it).
//
// Sign-in uses oidc-provider's development interactions: a form where any login name (and any
// password) signs in as the account of that name. Roles come from "accounts" first, then from
// the login name's first part: "supervisor.north" -> ["supervisor"], "worker.x" ->
// ["social_worker"], "manager..." -> ["manager"], "admin..." -> ["admin"]; anything else has
// none. Access tokens for a resource (client credentials, or a code grant with `resource`) are
// RS256 JWTs carrying `roles` and `preferred_username`, for the API's JWKS path.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

import Provider from 'oidc-provider';

const raw = process.argv[2] ? readFileSync(process.argv[2], 'utf8') : process.env.IDP_CONFIG;
if (!raw) {
  console.error('provider.mjs: set IDP_CONFIG to the JSON configuration (or pass a file path)');
  process.exit(2);
}
const config = JSON.parse(raw);
const port = Number(config.port);
if (!Number.isInteger(port) || port <= 0) {
  console.error('provider.mjs: "port" is required');
  process.exit(2);
}
const issuer = config.issuer ?? `http://127.0.0.1:${port}`;
const accounts = config.accounts ?? {};
const defaultResource = config.resource ?? `${issuer}/api`;
const firstParty = new Set(config.firstPartyClients ?? []);

const PREFIX_ROLES = [
  ['supervisor', 'supervisor'],
  ['worker', 'social_worker'],
  ['manager', 'manager'],
  ['admin', 'admin'],
];

function rolesOf(accountId) {
  if (Object.hasOwn(accounts, accountId)) return accounts[accountId];
  const first = accountId.split('.')[0];
  const found = PREFIX_ROLES.find(([prefix]) => first.startsWith(prefix));
  return found ? [found[1]] : [];
}

function displayName(accountId) {
  return accountId
    .split(/[._-]/)
    .filter(Boolean)
    .map((part) => part[0].toUpperCase() + part.slice(1))
    .join(' ');
}

function accountClaims(accountId) {
  return {
    sub: accountId,
    preferred_username: accountId,
    name: displayName(accountId),
    roles: rolesOf(accountId),
  };
}

// A fresh signing key for every run unless the configuration names keys: tokens from an
// earlier run never verify.
const signingKeys = (config.keys ?? [{
  ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }),
  kid: randomBytes(8).toString('hex'),
}]).map((key) => ({ ...key, use: 'sig', alg: 'RS256' }));

const provider = new Provider(issuer, {
  clients: config.clients ?? [],
  jwks: { keys: signingKeys },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  scopes: ['openid', 'profile', 'roles', 'offline_access'],
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    roles: ['roles'],
  },
  conformIdTokenClaims: config.conformIdTokenClaims ?? true,
  extraClientMetadata: { properties: ['roles'] },
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // Client credentials get the API by default; a sign-in asks for a resource explicitly (its
      // access token otherwise stays an opaque token for the userinfo endpoint).
      defaultResource: (ctx, client, oneOf) => oneOf
        ?? (ctx.oidc.params?.grant_type === 'client_credentials' ? defaultResource : undefined),
      useGrantedResource: () => false,
      getResourceServerInfo: (ctx, resourceIndicator) => ({
        scope: 'api',
        audience: resourceIndicator,
        accessTokenTTL: 15 * 60,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
  async findAccount(ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        return accountClaims(sub);
      },
    };
  },
  async extraTokenClaims(ctx, token) {
    if (token.accountId) {
      const { preferred_username, name, roles } = accountClaims(token.accountId);
      return { preferred_username, name, roles };
    }
    const client = token.clientId ? await ctx.oidc.provider.Client.find(token.clientId) : undefined;
    return { preferred_username: token.clientId, roles: client?.roles ?? [] };
  },
  async loadExistingGrant(ctx) {
    const { client, session } = ctx.oidc;
    const grantId = ctx.oidc.result?.consent?.grantId || session.grantIdFor(client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    if (!firstParty.has(client.clientId)) return undefined;
    // A first-party client, as a council's own apps are: no consent screen.
    const grant = new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: session.accountId });
    grant.addOIDCScope('openid profile roles');
    await grant.save();
    return grant;
  },
  ttl: {
    AccessToken: 15 * 60,
    AuthorizationCode: 60,
    ClientCredentials: 15 * 60,
    IdToken: 60 * 60,
    Interaction: 60 * 60,
    Session: 60 * 60,
    Grant: 60 * 60,
  },
});

let jwksRequests = 0;
let jwksMode = 'normal';
provider.use(async (ctx, next) => {
  if (ctx.path === '/__control/stats' && ctx.method === 'GET') {
    ctx.body = { jwks_requests: jwksRequests };
    return;
  }
  if (ctx.path === '/__control/jwks' && ctx.method === 'POST') {
    jwksMode = ctx.query.mode === 'junk' ? 'junk' : 'normal';
    ctx.body = { mode: jwksMode };
    return;
  }
  if (ctx.path === '/jwks') {
    jwksRequests += 1;
    if (jwksMode === 'junk') {
      ctx.type = 'application/json';
      ctx.body = '{"keys": [{"kty": "RSA", "kid": "junk", "n": "AQAB"';
      return;
    }
  }
  await next();
});

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});

function stop() {
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
