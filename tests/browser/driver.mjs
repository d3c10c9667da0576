// driver.mjs: Debian's chromium, headless, driven by playwright-core, one JSON command per
// line on stdin and one JSON answer per line on stdout, so that test_dashboard.py can
// interleave the browser with publishing events and restarting the daemon.
// Commands: {"cmd":"goto","url":U} {"cmd":"read"} {"cmd":"shot","path":P} {"cmd":"quit"}
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import readline from "node:readline";

const profile = mkdtempSync(join(tmpdir(), "zt-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
	executablePath: process.env.ZT_CHROMIUM || "/usr/bin/chromium",
	headless: true,
	viewport: { width: 1600, height: 900 },
	// no network but the daemon's loopback port: nothing phones home during a test
	args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-default-apps", "--disable-extensions", "--mute-audio"],
});
const page = context.pages()[0] || (await context.newPage());
const consoleErrors = [];
page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
page.on("pageerror", (e) => consoleErrors.push(String(e)));

// What the page shows, read from the DOM as a person would see it.
function read() {
	return page.evaluate(() => {
		const $ = (id) => document.getElementById(id);
		return {
			total_fen: $("nat-total").dataset.valueFen,
			total_text: $("nat-total").textContent,
			import_fen: $("nat-import").dataset.valueFen,
			export_fen: $("nat-export").dataset.valueFen,
			events: $("nat-events").dataset.events,
			conn: $("conn").dataset.state,
			zones: [...document.querySelectorAll("#zones li")].map((li) => li.dataset.code),
			zone_names: [...document.querySelectorAll("#zones li .name")].map((n) => n.textContent),
			provinces: document.querySelectorAll("#provinces tr").length,
			rate: $("rate").textContent,
			peak: $("peak").textContent,
			day: $("day").textContent,
		};
	});
}

const handlers = {
	goto: async (c) => { await page.goto(c.url, { waitUntil: "load" }); return {}; },
	read: async () => ({ ...(await read()), console_errors: consoleErrors }),
	shot: async (c) => { await page.screenshot({ path: c.path, fullPage: true }); return {}; },
};

const rl = readline.createInterface({ input: process.stdin });
for await (const line of rl) {
	const c = JSON.parse(line);
	if (c.cmd === "quit")
		break;
	try {
		process.stdout.write(JSON.stringify({ ok: true, ...(await handlers[c.cmd](c)) }) + "\n");
	} catch (e) {
		process.stdout.write(JSON.stringify({ ok: false, error: String(e) }) + "\n");
	}
}
await context.close();
rmSync(profile, { recursive: true, force: true });
