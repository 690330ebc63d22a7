// @letta-ai/letta-client 1.12.1 against understudy, run with `node --test` by
// tests/clients/test_letta.py::test_npm_client, which starts the server and sets:
//   LETTA_BASE_URL           the server's Letta base URL (read by the client itself)
//   LETTA_API_KEY            a token (read by the client itself)
//   UNDERSTUDY_SESSION       the X-Understudy-Session value to send
//   UNDERSTUDY_VARIANT       the variant to ask for (sdk): the clients' shape of AgentState
//   UNDERSTUDY_EXPECTED_IDS  every agent id in the default order, from a raw HTTP walk
// The client does no runtime validation of responses: the checks on field types below are
// what its TypeScript declarations (resources/agents/agents.ts, AgentState) promise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import Letta, { NotFoundError, UnprocessableEntityError, AuthenticationError } from '@letta-ai/letta-client';

const env = (name) => {
  const v = process.env[name];
  assert.ok(v, `${name} must be set (run through tests/clients/test_letta.py)`);
  return v;
};
const BASE = env('LETTA_BASE_URL');
env('LETTA_API_KEY');
const SESSION = env('UNDERSTUDY_SESSION');
const VARIANT = env('UNDERSTUDY_VARIANT');
const EXPECTED = env('UNDERSTUDY_EXPECTED_IDS').split(',');

// Base URL and key come from the environment, as a user of the client would set them.
const client = new Letta({
  defaultHeaders: { 'X-Understudy-Session': SESSION, 'X-Understudy-Variant': VARIANT },
});
const documentClient = new Letta({ defaultHeaders: { 'X-Understudy-Session': SESSION } });

async function collect(iterable) {
  const out = [];
  for await (const item of iterable) out.push(item);
  return out;
}

test('the client is configured from LETTA_BASE_URL', () => {
  assert.equal(client.baseURL, BASE);
});

test('list auto-paginates every agent once, in the default order', async () => {
  const agents = await collect(client.agents.list({ limit: 9 }));
  const ids = agents.map((a) => a.id);
  assert.deepEqual(ids, EXPECTED);
  assert.equal(new Set(ids).size, ids.length);

  // Page by page: each next page is after=<last id>, and the walk ends on an empty page.
  const pages = [];
  for await (const page of (await client.agents.list({ limit: 25 })).iterPages()) {
    pages.push(page.getPaginatedItems().map((a) => a.id));
  }
  assert.deepEqual(pages.flat(), EXPECTED);
  assert.equal(pages.length, Math.ceil(EXPECTED.length / 25) + 1);
  assert.deepEqual(pages.at(-1), []);
  assert.ok(pages.slice(0, -2).every((p) => p.length === 25));

  // Default page size (no limit sent) and ascending order.
  assert.deepEqual((await collect(client.agents.list())).map((a) => a.id), EXPECTED);
  assert.deepEqual(
    (await collect(client.agents.list({ order: 'asc', limit: 40 }))).map((a) => a.id),
    [...EXPECTED].reverse(),
  );
});

test('retrieve gives the same agent as the list', async () => {
  const listed = await collect(client.agents.list({ limit: 100 }));
  const step = Math.max(1, Math.floor(listed.length / 10));
  for (let i = 0; i < listed.length; i += step) {
    const got = await client.agents.retrieve(listed[i].id);
    assert.deepEqual(got, listed[i]);
  }
});

test('the sdk variant gives AgentState as the client declares it', async () => {
  const agents = await collect(client.agents.list({ limit: 50 }));
  assert.equal(agents.length, EXPECTED.length);
  for (const a of agents) {
    // Required by the declaration.
    for (const k of ['id', 'name', 'system', 'agent_type']) assert.equal(typeof a[k], 'string', k);
    for (const k of ['blocks', 'sources', 'tags', 'tools']) assert.ok(Array.isArray(a[k]), k);
    assert.equal(typeof a.llm_config, 'object');
    assert.ok(Array.isArray(a.memory.blocks));
    // model and embedding: handle strings, "provider/model-name".
    assert.equal(typeof a.model, 'string', `model of ${a.id} is ${JSON.stringify(a.model)}`);
    assert.equal(a.model, a.llm_config.handle);
    assert.equal(typeof a.embedding, 'string', `embedding of ${a.id} is ${JSON.stringify(a.embedding)}`);
    assert.equal(a.embedding, a.embedding_config.handle);
  }
  const one = await client.agents.retrieve(EXPECTED[0]);
  assert.equal(typeof one.model, 'string');
});

test('without the variant header the document shape is served', async () => {
  const page = await documentClient.agents.list({ limit: 1 });
  const [a] = page.getPaginatedItems();
  assert.equal(a.id, EXPECTED[0]);
  assert.equal(typeof a.model, 'object');
  assert.equal(a.model.handle, a.llm_config.handle);
  assert.equal(typeof a.embedding, 'object');
});

test('an unknown agent is a NotFoundError', async () => {
  const id = `agent-${randomUUID()}`;
  assert.ok(!EXPECTED.includes(id));
  await assert.rejects(client.agents.retrieve(id), (err) => {
    assert.ok(err instanceof NotFoundError, String(err));
    assert.equal(err.status, 404);
    assert.equal(typeof err.error.detail, 'string');
    return true;
  });
});

test('bad parameters are UnprocessableEntityErrors naming the parameter', async () => {
  await assert.rejects(client.agents.list({ limit: 0 }), (err) => {
    assert.ok(err instanceof UnprocessableEntityError, String(err));
    assert.ok(err.error.detail.some((d) => d.loc.join('.') === 'query.limit'), JSON.stringify(err.error));
    return true;
  });
  await assert.rejects(client.agents.retrieve('agent-not-a-uuid'), (err) => {
    assert.ok(err instanceof UnprocessableEntityError, String(err));
    assert.ok(err.error.detail.some((d) => d.loc.join('.') === 'path.agent_id'), JSON.stringify(err.error));
    return true;
  });
});

test('missing credentials are an AuthenticationError', async () => {
  // apiKey: null overrides LETTA_API_KEY: the client sends no Authorization header.
  const anonymous = new Letta({
    apiKey: null,
    defaultHeaders: { 'X-Understudy-Session': SESSION, 'X-Understudy-Variant': VARIANT },
  });
  await assert.rejects(anonymous.agents.list({ limit: 1 }), (err) => {
    assert.ok(err instanceof AuthenticationError, String(err));
    assert.equal(err.status, 401);
    return true;
  });
});
