// zonetally dashboard: today's totals from GET /api/stream (Server-Sent Events).
// The stream starts with a snapshot of every day block, then sends each block a commit
// changed; the browser's EventSource resumes by Last-Event-ID after a cut, and the daemon
// answers with the missed updates or a fresh snapshot. No framework, no build step.
"use strict";

const HISTORY_S = 600; // the time series: the last 10 minutes
const TOP_N = 15;

const state = {
	day: null,          // "YYYY-MM-DD" of the blocks shown
	blocks: new Map(),  // "level:code" -> block of the current day
	samples: [],        // {t: ms, accepted: n} from stats events
	rates: [],          // {t: ms, rate: events/s}
	lastUpdate: null,
	dirty: false,
};

const yuanFmt = new Intl.NumberFormat("en-US", {minimumFractionDigits: 2, maximumFractionDigits: 2});
const countFmt = new Intl.NumberFormat("en-US");

// Exact yuan text of a fen amount (an integer; BigInt keeps large values exact).
function yuan(fen) {
	const f = BigInt(fen);
	const neg = f < 0n;
	const m = neg ? -f : f;
	const whole = countFmt.format(m / 100n);
	const cents = String(m % 100n).padStart(2, "0");
	return (neg ? "-" : "") + "¥" + whole + "." + cents;
}

// Short form for bar labels: ¥12.3万 / ¥4.56亿, as Chinese readers scan large figures.
function yuanShort(fen) {
	const y = Number(fen) / 100;
	if (Math.abs(y) >= 1e8) return "¥" + yuanFmt.format(y / 1e8) + "亿";
	if (Math.abs(y) >= 1e4) return "¥" + yuanFmt.format(y / 1e4) + "万";
	return "¥" + yuanFmt.format(y);
}

function token() {
	const m = /(?:^|[#&])token=([^&]+)/.exec(location.hash);
	if (m) {
		sessionStorage.setItem("zonetally-token", decodeURIComponent(m[1]));
		history.replaceState(null, "", location.pathname); // keep it out of the address bar
	}
	return sessionStorage.getItem("zonetally-token");
}

function setConn(s, text) {
	const el = document.getElementById("conn");
	el.className = "conn " + s;
	el.dataset.state = s;
	el.textContent = text;
}

// A block of the stream: keep today's; a newer day starts the board afresh (midnight CST).
function applyBlock(b, replace) {
	if (b.period.granularity !== "day") return;
	const day = b.period.bucket;
	if (state.day === null || day > state.day) {
		state.day = day;
		state.blocks.clear();
	} else if (day < state.day) {
		return;
	}
	const key = b.level + ":" + b.code;
	const old = state.blocks.get(key);
	if (replace || !old) {
		state.blocks.set(key, b);
	} else {
		for (const d of ["import", "export", "total"]) if (b[d]) old[d] = b[d];
	}
	state.dirty = true;
}

function onSnapshot(e) {
	const snap = JSON.parse(e.data);
	state.blocks.clear();
	state.day = null;
	for (const b of snap.blocks) applyBlock(b, true);
	state.feedSeq = snap.feed_seq;
	state.dirty = true;
}

function onUpdate(e) {
	const b = JSON.parse(e.data);
	applyBlock(b, false);
	state.feedSeq = b.feed_seq;
	state.lastUpdate = new Date();
}

function onStats(e) {
	const s = JSON.parse(e.data);
	const t = Date.now();
	state.samples.push({t, accepted: s.accepted});
	while (state.samples.length > 1 && t - state.samples[0].t > 5000) state.samples.shift();
	const first = state.samples[0];
	const rate = t > first.t ? (s.accepted - first.accepted) * 1000 / (t - first.t) : 0;
	state.rates.push({t, rate: Math.max(0, rate)});
	while (state.rates.length && t - state.rates[0].t > HISTORY_S * 1000) state.rates.shift();
	state.dirty = true;
}

let source = null;

function connect() {
	const tok = token();
	const url = "api/stream?gran=day" + (tok ? "&access_token=" + encodeURIComponent(tok) : "");
	source = new EventSource(url);
	source.addEventListener("open", () => setConn("live", "live"));
	source.addEventListener("snapshot", onSnapshot);
	source.addEventListener("update", onUpdate);
	source.addEventListener("stats", onStats);
	source.addEventListener("error", () => {
		if (source.readyState === EventSource.CLOSED) {
			// an HTTP error ends EventSource's own retries: ask why, then start over
			setConn("offline", "offline");
			source.close();
			checkAuth();
			setTimeout(connect, 3000);
		} else {
			setConn("reconnecting", "reconnecting…");
		}
	});
}

async function checkAuth() {
	try {
		const tok = token();
		const r = await fetch("api/totals?code=000000", {
			headers: tok ? {Authorization: "Bearer " + tok} : {},
		});
		const need = r.status === 401;
		document.getElementById("auth").hidden = !need;
		if (need) setConn("unauthorized", "token needed");
	} catch (_) {
		// the daemon is down: EventSource keeps trying
	}
}

function text(el, s) {
	if (el.textContent !== s) el.textContent = s;
}

function renderNational() {
	const n = state.blocks.get("nation:000000");
	const z = {events: 0, value_fen: 0};
	for (const d of ["total", "import", "export"]) {
		const t = (n && n[d]) || z;
		const el = document.getElementById("nat-" + d);
		el.dataset.valueFen = String(t.value_fen);
		text(el, yuan(t.value_fen));
	}
	const ev = (n && n.total) || z;
	document.getElementById("nat-events").dataset.events = String(ev.events);
	text(document.getElementById("nat-events"), countFmt.format(ev.events) + " declarations");
	text(document.getElementById("day"), state.day ? state.day + " CST" : "—");
}

function renderRate() {
	const last = state.rates[state.rates.length - 1];
	text(document.getElementById("rate"), last ? countFmt.format(Math.round(last.rate)) : "—");
	const peak = state.rates.reduce((m, r) => Math.max(m, r.rate), 0);
	text(document.getElementById("peak"), countFmt.format(Math.round(peak)));
	const svg = document.getElementById("spark");
	const now = Date.now(), top = Math.max(peak, 1);
	const pts = state.rates.map((r) => {
		const x = 600 - (now - r.t) / (HISTORY_S * 1000) * 600;
		const y = 115 - r.rate / top * 110;
		return x.toFixed(1) + "," + y.toFixed(1);
	});
	if (pts.length < 2) { svg.innerHTML = ""; return; }
	const x0 = pts[0].split(",")[0], x1 = pts[pts.length - 1].split(",")[0];
	svg.innerHTML = `<polygon points="${x0},120 ${pts.join(" ")} ${x1},120"></polygon>` +
		`<polyline points="${pts.join(" ")}"></polyline>`;
}

function el(tag, cls, content) {
	const e = document.createElement(tag);
	if (cls) e.className = cls;
	if (content !== undefined) e.textContent = content;
	return e;
}

function byTotal(a, b) {
	return b.total.value_fen - a.total.value_fen || b.total.events - a.total.events ||
		(a.code < b.code ? -1 : 1);
}

function renderZones() {
	const zones = [...state.blocks.values()].filter((b) => b.level === "zone" && b.total)
		.sort(byTotal).slice(0, TOP_N);
	const max = zones.length ? Math.max(zones[0].total.value_fen, 1) : 1;
	const ol = document.getElementById("zones");
	ol.replaceChildren(...zones.map((b, i) => {
		const li = el("li");
		li.dataset.code = b.code;
		li.append(el("span", "rank", String(i + 1)));
		const name = el("span", "name", b.name_zh + " ");
		name.append(el("span", "en", b.name_en));
		li.append(name);
		const bar = el("span", "bar");
		const imp = el("span", "imp"), exp = el("span", "exp");
		imp.style.width = ((b.import ? b.import.value_fen : 0) / max * 100).toFixed(2) + "%";
		exp.style.width = ((b.export ? b.export.value_fen : 0) / max * 100).toFixed(2) + "%";
		bar.append(imp, exp);
		li.append(bar, el("span", "val", yuanShort(b.total.value_fen)));
		return li;
	}));
}

function row(b, cls) {
	const tr = el("tr", cls);
	const name = el("td", null, b.name_zh + " ");
	name.append(el("span", "en", b.name_en));
	const v = (d) => (b[d] ? b[d].value_fen : 0);
	tr.append(name, el("td", null, yuan(v("import"))), el("td", null, yuan(v("export"))),
		el("td", "total", yuan(v("total"))),
		el("td", null, countFmt.format(b.total ? b.total.events : 0)));
	return tr;
}

function renderProvinces() {
	const provs = [...state.blocks.values()].filter((b) => b.level === "province" && b.total)
		.sort(byTotal);
	const rows = provs.map((b) => row(b));
	const n = state.blocks.get("nation:000000");
	if (n) rows.push(row(n, "nation"));
	document.getElementById("provinces").replaceChildren(...rows);
}

function render() {
	if (state.dirty) {
		state.dirty = false;
		renderNational();
		renderZones();
		renderProvinces();
		renderRate();
	}
	if (state.lastUpdate) {
		text(document.getElementById("updated"),
			"last update " + state.lastUpdate.toLocaleTimeString("en-GB"));
	}
}

connect();
setInterval(render, 250); // at most 4 redraws a second, however fast updates come
