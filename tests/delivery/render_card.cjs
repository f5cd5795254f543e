// Renders Adaptive Cards with the official `adaptivecards` renderer in headless Chromium
// (playwright-core driving the system's Chromium), takes a screenshot of each, and prints what it
// rendered, one JSON line per card: {"text": ..., "warnings": [...], "size": [w, h]}.
// One browser for all the cards: starting Chromium is most of the cost.
// Usage: node render_card.cjs CARD.json OUT.png [CARD2.json OUT2.png ...]
"use strict";
const fs = require("fs");
const path = require("path");
const { chromium } = require("playwright-core");

async function main() {
  const args = process.argv.slice(2);
  if (args.length === 0 || args.length % 2 !== 0) {
    throw new Error("usage: node render_card.cjs CARD.json OUT.png [CARD2.json OUT2.png ...]");
  }
  const executablePath = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
  const browser = await chromium.launch({ executablePath, args: ["--no-sandbox", "--disable-gpu"] });
  try {
    for (let i = 0; i < args.length; i += 2) {
      const result = await renderOne(browser, args[i], args[i + 1]);
      process.stdout.write(JSON.stringify(result) + "\n");
    }
  } finally {
    await browser.close();
  }
}

async function renderOne(browser, cardPath, pngPath) {
  const card = JSON.parse(fs.readFileSync(cardPath, "utf8"));
  const lib = require.resolve("adaptivecards/dist/adaptivecards.min.js");
  const css = path.join(path.dirname(lib), "adaptivecards.css");
  const page = await browser.newPage({ viewport: { width: 720, height: 400 }, deviceScaleFactor: 1 });
  await page.setContent(
    "<!doctype html><html><head><meta charset='utf-8'><style>body{margin:0;padding:16px;background:#f5f5f5;" +
    "font-family:'Segoe UI','Helvetica Neue',Arial,sans-serif}#card{width:640px;background:#fff;" +
    "border-radius:6px;box-shadow:0 1px 4px rgba(0,0,0,.2);overflow:hidden}</style></head>" +
    "<body><div id='card'></div></body></html>");
  await page.addStyleTag({ path: css });
  await page.addScriptTag({ path: lib });
  const result = await page.evaluate((json) => {
    const AC = window.AdaptiveCards;
    const adaptive = new AC.AdaptiveCard();
    adaptive.hostConfig = new AC.HostConfig({
      fontFamily: "'Segoe UI', 'Helvetica Neue', Arial, sans-serif",
      containerStyles: {
        default: { backgroundColor: "#FFFFFF", foregroundColors: { default: { default: "#242424", subtle: "#616161" } } },
        emphasis: { backgroundColor: "#F5F5F5", foregroundColors: { default: { default: "#242424", subtle: "#616161" } } },
        attention: { backgroundColor: "#FDE7E9", foregroundColors: { default: { default: "#242424", subtle: "#616161" } } },
        warning: { backgroundColor: "#FFF4CE", foregroundColors: { default: { default: "#242424", subtle: "#616161" } } },
        good: { backgroundColor: "#DFF6DD", foregroundColors: { default: { default: "#242424", subtle: "#616161" } } },
      },
    });
    const context = new AC.SerializationContext();
    adaptive.parse(json, context);
    const warnings = [];
    for (let i = 0; i < context.eventCount; i++) {
      const e = context.getEventAt(i);
      warnings.push(`${e.phase}/${e.event}: ${e.message}`);
    }
    for (const e of adaptive.validateProperties().validationEvents) {
      warnings.push(`validate/${e.event}: ${e.message}`);
    }
    const element = adaptive.render();
    document.getElementById("card").appendChild(element);
    const box = document.getElementById("card").getBoundingClientRect();
    return { text: element.innerText, warnings, size: [box.width, box.height] };
  }, card);
  const handle = await page.$("#card");
  await handle.screenshot({ path: pngPath });
  await page.close();
  return result;
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack || err) + "\n");
  process.exit(1);
});
