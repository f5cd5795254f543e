// Opens a report page in headless Chromium (playwright-core driving the system's Chromium), with
// every request other than the page itself recorded and refused, takes a full-page screenshot, and
// prints what the browser saw as one JSON line:
// {"requests": [...], "title": ..., "svgs": N, "bars": N, "sections": [...], "alerts": [...], "size": [w, h]}.
// Usage: node render_page.cjs PAGE.html OUT.png
"use strict";
const path = require("path");
const { chromium } = require("playwright-core");

async function main() {
  const [pagePath, pngPath] = process.argv.slice(2);
  if (!pagePath || !pngPath) throw new Error("usage: node render_page.cjs PAGE.html OUT.png");
  const executablePath = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
  const browser = await chromium.launch({ executablePath, args: ["--no-sandbox", "--disable-gpu"] });
  try {
    const url = "file://" + path.resolve(pagePath);
    const page = await browser.newPage({ viewport: { width: 1180, height: 1350 }, deviceScaleFactor: 1 });
    const requests = [];
    const alerts = [];
    page.on("dialog", async (dialog) => { alerts.push(dialog.message()); await dialog.dismiss(); });
    await page.route("**/*", (route) => {
      const asked = route.request().url();
      if (asked === url) return route.continue();
      requests.push(asked);
      return route.abort();
    });
    await page.goto(url, { waitUntil: "load" });
    const seen = await page.evaluate(() => ({
      title: document.title,
      svgs: document.querySelectorAll("svg").length,
      bars: document.querySelectorAll("svg rect").length,
      sections: Array.from(document.querySelectorAll("section h2")).map((h) => h.innerText),
      size: [document.documentElement.scrollWidth, document.documentElement.scrollHeight],
    }));
    await page.screenshot({ path: pngPath, fullPage: false });
    await page.emulateMedia({ media: "print" });
    const pdf = await page.pdf({ format: "A4" });
    process.stdout.write(JSON.stringify({ requests, alerts, pdf_bytes: pdf.length, ...seen }) + "\n");
  } finally {
    await browser.close();
  }
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack || err) + "\n");
  process.exit(1);
});
