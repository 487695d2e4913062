// Real-browser check of the resident page (used by tests/integration/test_gateway_browser.py):
// Debian chromium driven headless by playwright-core loads http://HOST/app/, watches a line,
// an alert POSTed over HTTP appears live, the resident accepts it, a second alert stays open;
// after a reload the page watches the remembered line without a click; a screenshot is taken.
//   node browser_check.mjs BASE_URL LINE SCREENSHOT.png
// Prints one JSON line; exits 1 on any failure. Every wait is bounded.
import { chromium } from 'playwright-core';

const [base, line, shot] = process.argv.slice(2);
const TIMEOUT_MS = Number(process.env.BROWSER_TIMEOUT_MS || 15000);
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: FLAGS,
  timeout: TIMEOUT_MS });
let ok = false;
try {
  const page = await browser.newPage({ viewport: { width: 800, height: 700 } });
  page.setDefaultTimeout(TIMEOUT_MS);
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(base + '/app/');
  await page.selectOption('#line', line);
  await page.click('#join');
  await page.waitForFunction((l) => document.querySelector('#status').textContent === 'watching line ' + l, line);
  const where = 'unit ' + line + '-' + Date.now() % 100000 + ' kitchen';
  const r = await fetch(base + '/alert', { method: 'POST', body: JSON.stringify({ line, location: where }) });
  if (r.status !== 200) throw new Error('POST /alert: ' + r.status + ' ' + await r.text());
  const posted = await r.json();
  const id = posted.topic_name + ':' + posted.partition_id + ':' + posted.offset;
  const item = page.locator('#alerts li', { hasText: where });
  await item.waitFor();
  const shownId = await item.getAttribute('data-id');
  await item.locator('.accept').click();
  await page.waitForSelector('#alerts li.accepted');
  const acceptedBy = await item.locator('.accepted-by').textContent();
  // A second alert, left open, so the picture shows both states.
  const open = 'unit ' + line + '-' + (Date.now() + 7) % 100000 + ' stairwell smoke';
  await fetch(base + '/alert', { method: 'POST', body: JSON.stringify({ line, location: open }) });
  await page.locator('#alerts li', { hasText: open }).waitFor();
  // The page remembers the line: after a reload it watches it again without a click, and
  // the alerts of the last hour are there.
  await page.reload();
  await page.waitForFunction((l) => document.querySelector('#status').textContent === 'watching line ' + l, line);
  const remembered = await page.inputValue('#line');
  await page.locator('#alerts li.accepted', { hasText: where }).waitFor();
  await page.locator('#alerts li', { hasText: open }).waitFor();
  await page.screenshot({ path: shot, fullPage: true });
  ok = shownId === id && acceptedBy.startsWith('accepted by') && remembered === line &&
    errors.length === 0;
  console.log(JSON.stringify({ ok, id, shownId, acceptedBy, remembered, errors }));
} catch (e) {
  console.log(JSON.stringify({ ok: false, error: String(e) }));
} finally {
  await browser.close();
}
process.exit(ok ? 0 : 1);
