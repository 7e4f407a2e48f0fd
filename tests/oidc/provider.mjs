// A real OpenID Connect provider for the console's sign-in tests: the npm package oidc-provider
// (package.json devDependencies) on 127.0.0.1, with one confidential client (code flow, PKCE
// required) and an in-memory account store. Its development interactions are the login and consent
// pages a test drives over HTTP: POST /interaction/<uid> with prompt=login&login=<account>&password=…
// (any password), then prompt=consent; GET /interaction/<uid>/abort denies.
//
//   node tests/oidc/provider.mjs <port> <client_id> <client_secret> <redirect_uri>
//
// Prints "ready <issuer>" once it listens; stops on SIGTERM.
import Provider from 'oidc-provider';

const [port, clientId, clientSecret, redirectUri] = process.argv.slice(2);
if (!port || !clientId || !clientSecret || !redirectUri) {
  console.error('usage: provider.mjs <port> <client_id> <client_secret> <redirect_uri>');
  process.exit(2);
}

// The people the provider knows (the account id is the subject and the login name).
const ACCOUNTS = {
  alice: { preferred_username: 'alice', name: 'Alice Liddell', email: 'alice@example.test', groups: ['staff'] },
  newbie: { preferred_username: 'newbie', name: 'New Person', email: 'newbie@example.test', groups: [] },
  dora: { preferred_username: 'dora', name: 'Dora Disabled', email: 'dora@example.test', groups: ['staff'] },
  omar: { preferred_username: 'Omar', name: 'Omar On-call', email: 'omar@example.test', groups: ['staff', 'vigil-oncall'] },
};

async function findAccount(_ctx, id) {
  const account = ACCOUNTS[id];
  if (!account) return undefined;
  return {
    accountId: id,
    async claims() {
      return { sub: id, email_verified: true, ...account };
    },
  };
}

const issuer = `http://127.0.0.1:${port}`;
const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  findAccount,
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username', 'groups'],
  },
  pkce: { required: () => true },
  cookies: { keys: ['vigil-test-provider-cookie-key-0001'] },
  features: { devInteractions: { enabled: true } },
});
provider.proxy = false;

const server = provider.listen(Number(port), '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
process.on('SIGINT', () => server.close(() => process.exit(0)));
