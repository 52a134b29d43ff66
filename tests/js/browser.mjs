// The playground and cross-origin calls, in Debian's Chromium, headless, driven by
// playwright-core. Every request the browser makes outside the server is blocked and
// counted, so a page that needed the internet fails here as it would offline.
//
//   node browser.mjs <base url> <platform admin token> <tenant name> <allowed origin port>
//                    <artifacts dir>
//
// 1. The playground: GET /graphql opens GraphiQL from the server's own assets, with no
//    console error and no policy violation; the token goes into the headers editor; a
//    query runs and its answer appears; the documentation explorer opens. A screenshot
//    is left in the artifacts dir.
// 2. A single-page app on another origin (served here, on the allowed port) calls the
//    API with a bearer token and reads the answer; the same page on an origin the
//    server does not allow is refused by the browser.
import { createServer } from 'node:http';
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';

const [base, token, tenantName, allowedPort, artifacts] = process.argv.slice(2);
mkdirSync(artifacts, { recursive: true });

const fail = (what) => { console.error(`FAILED: ${what}`); process.exit(1); };
const ok = (what) => console.log(`ok: ${what}`);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
const summary = {};
try {
  // --- 1. The playground -------------------------------------------------------------
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  const outside = [];
  const problems = [];
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(base)) return route.continue();
    outside.push(url);
    return route.abort();
  });
  page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
  page.on('pageerror', (e) => problems.push(String(e)));

  const response = await page.goto(`${base}/graphql`);
  const headers = response.headers();
  const csp = headers['content-security-policy'] || '';
  if (!csp.includes("frame-ancestors 'none'") || !csp.includes("script-src 'self'")) fail(`page policy: ${csp}`);
  if (headers['x-content-type-options'] !== 'nosniff') fail('nosniff');
  if (headers['referrer-policy'] !== 'no-referrer') fail('referrer policy');
  ok('the page carries its Content-Security-Policy, nosniff and no-referrer');

  await page.waitForSelector('.graphiql-container', { timeout: 20000 });
  ok('GraphiQL renders from the server\'s own assets');

  // The token, typed into the headers editor as an admin would.
  await page.locator('button[data-name=headers]').click();
  const headersEditor = page.locator('.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror');
  await headersEditor.click();
  await page.keyboard.press('Control+A');
  await page.keyboard.insertText(JSON.stringify({ Authorization: `Bearer ${token}` }));

  const queryEditor = page.locator('.graphiql-query-editor .CodeMirror').first();
  await queryEditor.click();
  await page.keyboard.press('Control+A');
  await page.keyboard.insertText('query Tenants {\n  tenants {\n    nodes {\n      name\n    }\n  }\n}\n');
  await page.locator('.graphiql-execute-button').click();
  const result = page.locator('.result-window');
  await result.getByText(tenantName).waitFor({ timeout: 20000 });
  ok('a query typed with the token in the headers editor runs, and its answer shows');

  await page.getByRole('button', { name: /Show Documentation Explorer/i }).click();
  const docs = page.locator('.graphiql-doc-explorer');
  await docs.getByText('Root Types').waitFor({ timeout: 10000 });
  await docs.getByText('Query', { exact: true }).first().click();
  await docs.getByText('createContact').or(docs.getByText('contacts')).first().waitFor({ timeout: 10000 });
  ok('the documentation explorer opens and walks into Query');
  await page.screenshot({ path: `${artifacts}/playground.png` });

  if (outside.length) fail(`the page tried to reach outside the server: ${outside.join(', ')}`);
  ok('nothing was fetched from outside the server');
  const violations = problems.filter((p) => /Content Security Policy|Refused to/i.test(p));
  if (violations.length) fail(`policy violations: ${violations.join(' | ')}`);
  if (problems.length) fail(`console errors: ${problems.join(' | ')}`);
  ok('no console error, no policy violation');

  // Nothing else may frame the playground.
  const framed = await context.newPage();
  const frameErrors = [];
  framed.on('console', (m) => frameErrors.push(m.text()));
  await framed.setContent(`<iframe src="${base}/graphql"></iframe>`);
  await framed.waitForTimeout(1500);
  const frame = framed.frames().find((f) => f !== framed.mainFrame());
  const inside = frame ? await frame.locator('.graphiql-container').count().catch(() => 0) : 0;
  if (inside) fail('the playground rendered inside another page\'s frame');
  ok('another page cannot frame the playground');
  await context.close();

  // --- 2. A browser app on its own origin --------------------------------------------
  const app = `<!doctype html><meta charset="utf-8"><title>app</title><pre id="out">…</pre>
<script>
fetch(${JSON.stringify(`${base}/graphql`)}, {
  method: 'POST',
  headers: { 'content-type': 'application/json', authorization: ${JSON.stringify(`Bearer ${token}`)} },
  body: JSON.stringify({ query: '{ tenants { nodes { name } } }' }),
}).then(async (r) => {
  const body = await r.json();
  document.getElementById('out').textContent = 'answered ' + r.headers.get('x-request-id') + ' ' + JSON.stringify(body.data);
}).catch((e) => { document.getElementById('out').textContent = 'blocked ' + e; });
</script>`;
  const serve = (port) => new Promise((resolve) => {
    const s = createServer((_, res) => { res.setHeader('content-type', 'text/html'); res.end(app); });
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
  const allowed = await serve(Number(allowedPort));
  const other = await serve(0);
  const cors = await browser.newContext();
  const spa = await cors.newPage();
  await spa.goto(`http://127.0.0.1:${allowedPort}/`);
  await spa.waitForFunction(() => document.getElementById('out').textContent !== '…', null, { timeout: 10000 });
  const answered = await spa.locator('#out').textContent();
  if (!answered.startsWith('answered ') || !answered.includes(tenantName) || answered.includes('answered null')) {
    fail(`the allowed origin's call: ${answered}`);
  }
  ok('an app on an allowed origin calls the API with its token and reads x-request-id');
  const stranger = await cors.newPage();
  await stranger.goto(`http://127.0.0.1:${other.address().port}/`);
  await stranger.waitForFunction(() => document.getElementById('out').textContent !== '…', null, { timeout: 10000 });
  const refused = await stranger.locator('#out').textContent();
  if (!refused.startsWith('blocked ')) fail(`an origin not allowed got an answer: ${refused}`);
  ok('the same app on an origin not allowed is refused by the browser');
  allowed.close();
  other.close();
  await cors.close();
  summary.screenshot = `${artifacts}/playground.png`;
} finally {
  await browser.close();
}
console.log(JSON.stringify(summary));
