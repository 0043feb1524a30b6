"use strict";
/*
 * Tocsin operator console: a small single-page app over the tenant's REST API (/v2.0/...).
 *
 * Ground rules, because the data shown here is written by tenants:
 *  - every node is built with h() / textContent; nothing from the API ever goes through innerHTML;
 *  - links built from data are always fragment links ("#/history?..."), never data-supplied URLs;
 *  - nothing is fetched from anywhere but this origin.
 *
 * Layout of this file: helpers (DOM, time, durations, API), shared widgets, one render function
 * per page, then the router and sign-in.
 */
(() => {
  const TOKEN_KEY = "tocsin.token";
  const REFRESH_MS = 10_000;
  const LOADING_DELAY_MS = 400; // a "Loading…" shown only for slow answers, so fast ones don't flash
  const HISTORY_PAGE = 50;
  const OUTCOMES = ["sent", "failed", "given_up", "skipped", "silenced", "inhibited", "grouped"];
  const OUTCOME_LABELS = {
    sent: "Sent", failed: "Failed", given_up: "Given up", skipped: "Skipped",
    silenced: "Silenced", inhibited: "Inhibited", grouped: "Grouped",
  };
  const STATES = ["ALARM", "OK", "UNDETERMINED"];
  const METHOD_TYPES = ["EMAIL", "WEBHOOK", "PAGERDUTY", "SLACK", "JIRA", "HIPCHAT"];
  const ADDRESS_HINTS = {
    EMAIL: "ops@example.com", WEBHOOK: "https://hooks.example.com/tocsin",
    PAGERDUTY: "PagerDuty integration key", SLACK: "https://hooks.slack.com/services/…",
    JIRA: "https://jira.example.com/?project=OPS", HIPCHAT: "https://hipchat.example.com/v2/room/…",
  };

  // ---------------------------------------------------------------- DOM helpers

  // Attributes that must be set as properties to take effect on live elements.
  const PROPS = new Set(["value", "checked", "selected", "disabled", "hidden", "multiple", "required"]);

  /** h("tag", {attr: value, onclick: fn}, ...children): children may be nodes, strings, arrays, null. */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value == null || value === false) continue;
      if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
      else if (key === "class") el.className = Array.isArray(value) ? value.filter(Boolean).join(" ") : value;
      else if (PROPS.has(key)) el[key] = value;
      else el.setAttribute(key, value === true ? "" : String(value));
    }
    append(el, children);
    return el;
  }

  function append(el, children) {
    for (const child of [children].flat(Infinity)) {
      if (child == null || child === false) continue;
      el.append(child instanceof Node ? child : String(child)); // strings become text nodes
    }
    return el;
  }

  const $ = (sel, root = document) => root.querySelector(sel);
  /** A CSS-class-safe form of a data value (outcomes, states) for colouring badges. */
  const cls = (value) => String(value ?? "").toLowerCase().replace(/[^a-z0-9_-]/g, "");

  function badge(text, kind) {
    return h("span", { class: ["badge", kind] }, text);
  }
  const outcomeBadge = (o) => badge(OUTCOME_LABELS[o] || o || "—", "outcome-" + cls(o));
  const stateBadge = (s) => badge(s || "—", "state-" + cls(s));

  function errorBox() {
    return h("p", { class: "error", role: "alert", hidden: true });
  }
  function showError(el, err) {
    if (!el || (err && err.silent)) return; // a 401 already signed out; nothing to show here
    el.textContent = typeof err === "string" ? err : (err && err.message) || "Something went wrong.";
    el.hidden = false;
  }
  function clearError(el) {
    if (el) { el.textContent = ""; el.hidden = true; }
  }

  /** Disables a button while fn runs, optionally with a different label. */
  async function busy(btn, label, fn) {
    const old = btn.textContent;
    btn.disabled = true;
    if (label) btn.textContent = label;
    try { return await fn(); } finally { btn.disabled = false; btn.textContent = old; }
  }

  /** A delete button with an in-page confirm step: the first click arms it for 3 s. */
  function confirmButton(label, onConfirm) {
    let timer = null;
    const disarm = () => { clearTimeout(timer); timer = null; btn.textContent = label; btn.classList.remove("armed"); };
    const btn = h("button", {
      type: "button", class: "delete danger",
      onclick: async () => {
        if (!timer) {
          btn.textContent = "Really delete?";
          btn.classList.add("armed");
          timer = setTimeout(disarm, 3000);
          return;
        }
        disarm();
        await busy(btn, "Deleting…", () => onConfirm(btn));
      },
    }, label);
    return btn;
  }

  function field(label, control, hint) {
    return h("div", { class: "field" },
      h("label", { for: control.id }, label),
      control,
      hint ? h("small", { class: "hint" }, hint) : null);
  }

  function section(title, ...children) {
    return h("section", { class: "card" }, h("h2", null, title), children);
  }

  function pageHeader(title, ...extra) {
    return h("div", { class: "page-header" }, h("h1", null, title), h("div", { class: "page-tools" }, extra));
  }

  /** A table inside a horizontally scrolling wrapper; an empty list shows `empty` in one row. */
  function table(id, columns, rows, empty) {
    const body = rows.length ? rows : h("tr", { class: "empty" }, h("td", { colspan: columns.length }, empty));
    return h("div", { class: "table-wrap" },
      h("table", { id },
        h("thead", null, h("tr", null, columns.map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", null, body)));
  }

  /**
   * Fetches and renders into box. Keeps the previous content while a refresh runs (no flashing)
   * and only shows "Loading…" when the first answer is slow.
   */
  async function load(box, errEl, fetcher, render) {
    const slow = setTimeout(() => {
      if (!box.childElementCount) box.append(h("p", { class: "loading" }, "Loading…"));
    }, LOADING_DELAY_MS);
    try {
      const data = await fetcher();
      clearError(errEl);
      box.replaceChildren(...[render(data)].flat().filter((n) => n != null && n !== false));
      return data;
    } catch (err) {
      showError(errEl, err);
      if (box.querySelector(":scope > .loading")) box.replaceChildren();
      return null;
    } finally {
      clearTimeout(slow);
    }
  }

  // ---------------------------------------------------------------- time and durations

  function relative(iso) {
    const t = Date.parse(iso);
    if (Number.isNaN(t)) return "";
    const diff = Math.round((t - Date.now()) / 1000);
    const a = Math.abs(diff);
    if (a < 3) return "now";
    let s;
    if (a < 60) s = a + " s";
    else if (a < 3600) s = Math.floor(a / 60) + " min";
    else if (a < 86400) {
      const hours = Math.floor(a / 3600), mins = Math.floor((a % 3600) / 60);
      s = hours + " h" + (hours < 6 && mins ? " " + mins + " min" : "");
    } else s = Math.floor(a / 86400) + " d";
    return diff > 0 ? "in " + s : s + " ago";
  }

  function absolute(iso) {
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return String(iso ?? "");
    const now = new Date();
    if (d.toDateString() === now.toDateString()) return d.toLocaleTimeString();
    const opts = { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" };
    if (d.getFullYear() !== now.getFullYear()) opts.year = "numeric";
    return d.toLocaleString(undefined, opts);
  }

  /** <time> with local time and a relative hint that the ticker keeps current. */
  function when(iso, relFirst = false) {
    if (!iso) return h("span", { class: "muted" }, "—");
    const d = new Date(iso);
    const rel = h("span", { class: "rel", "data-rel": iso }, relative(iso));
    const abs = h("span", { class: "abs" }, absolute(iso));
    return h("time", { datetime: iso, title: Number.isNaN(d.getTime()) ? iso : d.toString() },
      relFirst ? [rel, " ", abs] : [abs, " ", rel]);
  }

  // One ticker for the whole page: cheaper than a timer per element.
  setInterval(() => {
    for (const el of document.querySelectorAll("[data-rel]")) el.textContent = relative(el.getAttribute("data-rel"));
  }, 5000);

  const rfc3339 = (date) => date.toISOString();

  /** "1d4h30m5s" → seconds, or null when malformed. */
  function parseDuration(text) {
    const t = String(text ?? "").trim();
    const m = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(t);
    if (!t || !m) return null;
    return (+m[1] || 0) * 86400 + (+m[2] || 0) * 3600 + (+m[3] || 0) * 60 + (+m[4] || 0);
  }

  function formatDuration(seconds) {
    let s = Math.max(0, Math.floor(seconds));
    const parts = [[86400, "d"], [3600, "h"], [60, "m"], [1, "s"]].map(([size, unit]) => {
      const n = Math.floor(s / size);
      s -= n * size;
      return n ? n + unit : "";
    });
    return parts.join("") || "0s";
  }

  /** datetime-local value (local time) ↔ RFC 3339 UTC. */
  function localInputToIso(value) {
    if (!value) return "";
    const d = new Date(value); // a date-time without offset is read as local time
    return Number.isNaN(d.getTime()) ? "" : rfc3339(d);
  }
  function isoToLocalInput(iso) {
    const d = new Date(iso);
    if (!iso || Number.isNaN(d.getTime())) return "";
    const p = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
  }

  // ---------------------------------------------------------------- API

  let memoryToken = ""; // fallback when sessionStorage is unavailable (some private modes)
  function getToken() {
    try { return sessionStorage.getItem(TOKEN_KEY) || ""; } catch { return memoryToken; }
  }
  function setToken(token) {
    memoryToken = token;
    try {
      if (token) sessionStorage.setItem(TOKEN_KEY, token); else sessionStorage.removeItem(TOKEN_KEY);
    } catch { /* memoryToken holds it */ }
  }

  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  /** path + query string, leaving out empty values. */
  function withQuery(path, params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {})) if (v !== "" && v != null) q.set(k, v);
    const s = q.toString();
    return s ? path + "?" + s : path;
  }

  /**
   * Calls the API as the signed-in tenant. Resolves to the parsed JSON (null for 204); rejects
   * with an ApiError carrying the answer's description. A 401 signs out (unless opts.token is
   * given: the sign-in form checks a candidate token itself).
   */
  async function api(method, path, body, opts = {}) {
    const headers = { "X-Auth-Token": opts.token ?? getToken(), Accept: "application/json" };
    const init = { method, headers, cache: "no-store", credentials: "same-origin" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      throw new ApiError(0, "Cannot reach the Tocsin API: " + e.message);
    }
    const text = res.status === 204 ? "" : await res.text();
    let data = null;
    if (text) { try { data = JSON.parse(text); } catch { data = null; } }
    if (!res.ok) {
      const message = (data && (data.description || data.title)) || `${res.status} ${res.statusText}`.trim();
      const err = new ApiError(res.status, message);
      if (res.status === 401 && opts.token === undefined) {
        err.silent = true;
        signOut("Signed out: " + message);
      }
      throw err;
    }
    return data;
  }

  const list = (path, params) => api("GET", withQuery(path, params)).then((d) => (d && d.elements) || []);

  // ---------------------------------------------------------------- shared widgets

  function chips(obj) {
    const entries = Object.entries(obj || {});
    if (!entries.length) return null;
    return h("span", { class: "chips" }, entries.map(([k, v]) => h("code", { class: "chip" }, `${k}=${v}`)));
  }

  function shortId(id) {
    const s = String(id ?? "");
    return s.length > 12 ? s.slice(0, 8) + "…" : s;
  }

  /** The alarm cell of a notification row: name, and the id as a link or as a filter button. */
  function alarmCell(n, onAlarm) {
    const id = n.alarm_id || "";
    const idNode = onAlarm
      ? h("button", { type: "button", class: "link alarm-id", title: "Show the history of alarm " + id, onclick: () => onAlarm(id) }, shortId(id))
      : h("a", { class: "alarm-id", href: "#/history?" + new URLSearchParams({ alarm_id: id }), title: "History of alarm " + id }, shortId(id));
    return h("td", { title: `alarm ${id}\ndefinition ${n.alarm_definition_id || "?"}` },
      h("div", null, n.alarm_name || "(unnamed alarm)"), id ? h("div", { class: "small" }, idNode) : null);
  }

  function notificationDetail(n) {
    return [
      n.reason ? h("div", null, n.reason) : null,
      n.rule_id ? h("div", { class: "small" }, "rule ", n.rule_name ? h("span", { title: n.rule_id }, n.rule_name) : h("code", { title: n.rule_id }, shortId(n.rule_id))) : null,
      n.source_alarm_id ? h("div", { class: "small" }, "source alarm ",
        h("a", { href: "#/history?" + new URLSearchParams({ alarm_id: n.source_alarm_id }), title: n.source_alarm_id }, shortId(n.source_alarm_id))) : null,
      n.notice ? h("div", { class: "small" }, h("code", null, n.notice)) : null,
    ];
  }

  function notificationsTable(id, elements, empty, onAlarm) {
    const rows = elements.map((n) => h("tr", { "data-outcome": n.outcome },
      h("td", { class: "nowrap" }, when(n.time)),
      h("td", null, outcomeBadge(n.outcome)),
      alarmCell(n, onAlarm),
      h("td", null, stateBadge(n.state)),
      h("td", null, n.method
        ? [h("div", { title: n.method.address || "" }, n.method.name || n.method.id), h("div", { class: "small muted" }, n.method.type)]
        : h("span", { class: "muted" }, "—")),
      h("td", { class: "num" }, n.attempt ?? "—"),
      h("td", { class: "detail" }, notificationDetail(n))));
    return table(id, ["Time", "Outcome", "Alarm", "State", "Method", "Attempt", "Reason / rule / notice"], rows, empty);
  }

  function mutedTable(elements) {
    const rows = elements.map((m) => h("tr", null,
      h("td", null, h("div", null, m.alarm_name || "(unnamed alarm)"),
        h("div", { class: "small" }, h("a", { href: "#/history?" + new URLSearchParams({ alarm_id: m.alarm_id || "" }), title: m.alarm_id }, shortId(m.alarm_id)))),
      h("td", null, stateBadge(m.state)),
      h("td", { class: "nowrap" }, when(m.since)),
      h("td", null, badge(m.muted_by === "inhibit" ? "inhibited" : "silenced", "outcome-" + (m.muted_by === "inhibit" ? "inhibited" : "silenced")),
        " ", h("span", { title: m.rule_id || "" }, m.rule_name || shortId(m.rule_id))),
      h("td", null, m.source_alarm_id
        ? h("a", { href: "#/history?" + new URLSearchParams({ alarm_id: m.source_alarm_id }), title: m.source_alarm_id }, shortId(m.source_alarm_id))
        : h("span", { class: "muted" }, "—"))));
    return table("muted-table", ["Alarm", "State", "Muted since", "Muted by", "Source alarm"], rows,
      "Nothing is muted — alarms held back by an active silence or inhibit rule appear here.");
  }

  // ---------------------------------------------------------------- Overview

  function renderOverview(main, params, page) {
    const updated = h("span", { class: "muted small" });
    const refreshBtn = h("button", { id: "refresh", type: "button", onclick: () => refresh() }, "↻ Refresh");
    const countsBox = h("div"), countsErr = errorBox();
    const groupsBox = h("div"), groupsErr = errorBox();
    const mutedBox = h("div"), mutedErr = errorBox();
    const recentBox = h("div"), recentErr = errorBox();
    const expanded = new Set(); // open member lists survive the auto-refresh

    main.append(
      pageHeader("Overview", updated, refreshBtn),
      section("Last 24 hours", countsErr, countsBox),
      section("Open groups", groupsErr, groupsBox),
      section("Muted alarms", mutedErr, mutedBox),
      section("Recent notifications", recentErr, recentBox));

    function tiles(data, since) {
      const counts = (data && data.counts) || {};
      const keys = OUTCOMES.concat(Object.keys(counts).filter((k) => !OUTCOMES.includes(k)));
      return h("div", { id: "outcome-counts", class: "tiles" }, keys.map((k) =>
        h("a", { class: ["tile", "outcome-" + cls(k)], "data-outcome": k, href: "#/history?" + new URLSearchParams({ outcome: k, since }), title: "Show these notifications" },
          h("span", { class: "count" }, String(counts[k] ?? 0)),
          h("span", { class: "label" }, OUTCOME_LABELS[k] || k))));
    }

    function groupsTable(groups) {
      const rows = [];
      for (const g of groups) {
        const key = (g.rule_id || "") + JSON.stringify(g.values || {});
        const members = g.members || [];
        const open = expanded.has(key);
        const membersRow = h("tr", { class: "members-row", hidden: !open },
          h("td", { colspan: 7 }, members.length
            ? h("ul", { class: "members" }, members.map((m) => h("li", null, stateBadge(m.state), " ", m.alarm_name || "(unnamed)", " ",
              h("a", { class: "small", href: "#/history?" + new URLSearchParams({ alarm_id: m.alarm_id || "" }), title: m.alarm_id }, shortId(m.alarm_id)))))
            : h("span", { class: "muted" }, "No members listed.")));
        const toggle = h("button", {
          type: "button", class: "link members-toggle", "aria-expanded": String(open),
          onclick: () => {
            const now = membersRow.hidden;
            membersRow.hidden = !now;
            toggle.setAttribute("aria-expanded", String(now));
            toggle.firstChild.textContent = now ? "▾ " : "▸ ";
            if (now) expanded.add(key); else expanded.delete(key);
          },
        }, h("span", null, open ? "▾ " : "▸ "), `${g.member_count ?? members.length} member${(g.member_count ?? members.length) === 1 ? "" : "s"}`);
        rows.push(h("tr", { class: "group-row" },
          h("td", { title: g.rule_id || "" }, g.rule_name || shortId(g.rule_id)),
          h("td", null, chips(g.values) || h("span", { class: "muted" }, "(all)")),
          h("td", null, stateBadge(g.state)),
          h("td", null, toggle),
          h("td", { class: "nowrap" }, when(g.opened_at)),
          h("td", { class: "nowrap" }, g.next_notification_at ? when(g.next_notification_at, true) : h("span", { class: "muted" }, "none due")),
          h("td", { class: "num" }, g.notices_sent ?? 0)), membersRow);
      }
      return table("groups-table", ["Rule", "Key", "State", "Members", "Opened", "Next notification", "Notices sent"], rows,
        "No open groups — grouped alarms appear here while a group rule collects them.");
    }

    let running = false;
    async function refresh() {
      if (running) return; // a slow API must not pile up requests
      running = true;
      refreshBtn.disabled = true;
      const since = rfc3339(new Date(Date.now() - 24 * 3600 * 1000));
      try {
        await Promise.all([
          load(countsBox, countsErr, () => api("GET", withQuery("/v2.0/notifications/summary", { since })), (d) => tiles(d, since)),
          load(groupsBox, groupsErr, () => list("/v2.0/alarm-groups"), groupsTable),
          load(mutedBox, mutedErr, () => list("/v2.0/muted"), mutedTable),
          load(recentBox, recentErr, () => list("/v2.0/notifications", { limit: 20 }), (els) =>
            notificationsTable("recent-table", els, "No notifications yet — they appear here as alarms change state.")),
        ]);
        updated.textContent = `Updated ${new Date().toLocaleTimeString()} · refreshes every ${REFRESH_MS / 1000} s`;
      } finally {
        running = false;
        refreshBtn.disabled = false;
      }
    }

    refresh();
    const timer = setInterval(() => { if (!document.hidden) refresh(); }, REFRESH_MS);
    const onVisible = () => { if (!document.hidden) refresh(); };
    document.addEventListener("visibilitychange", onVisible);
    page.cleanups.push(() => clearInterval(timer), () => document.removeEventListener("visibilitychange", onVisible));
  }

  // ---------------------------------------------------------------- Silences

  function silenceState(s, now = Date.now()) {
    const start = Date.parse(s.start_time);
    const end = start + (parseDuration(s.silence_duration) ?? 0) * 1000;
    if (Number.isNaN(start)) return { state: "active", start, end };
    return { state: now < start ? "pending" : now < end ? "active" : "expired", start, end };
  }

  /** "KEY=VALUE" per line → object; throws with the offending line. */
  function parseMatchers(text) {
    const out = {};
    text.split(/\r?\n/).forEach((raw, i) => {
      const line = raw.trim();
      if (!line) return;
      const eq = line.indexOf("=");
      if (eq < 0) throw new Error(`Matcher line ${i + 1} ("${line}") has no "=": write KEY=VALUE, e.g. hostname=host1.`);
      const key = line.slice(0, eq).trim();
      if (!key) throw new Error(`Matcher line ${i + 1} ("${line}") has no key before "=".`);
      if (Object.prototype.hasOwnProperty.call(out, key)) throw new Error(`Matcher line ${i + 1} gives the key "${key}" a second time.`);
      out[key] = line.slice(eq + 1).trim();
    });
    if (!Object.keys(out).length) throw new Error("Give at least one matcher, one KEY=VALUE per line (e.g. hostname=host1).");
    return out;
  }

  function renderSilences(main, params, page) {
    let silences = [];
    const nameIn = h("input", { id: "silence-name", type: "text", autocomplete: "off", placeholder: "silence-<now>" });
    const matchersIn = h("textarea", { id: "silence-matchers", rows: 3, spellcheck: "false", placeholder: "hostname=host1\nservice=nova" });
    const durationIn = h("input", { id: "silence-duration", type: "text", value: "2h", autocomplete: "off" });
    const descIn = h("input", { id: "silence-description", type: "text", autocomplete: "off" });
    const formErr = errorBox();
    const previewBtn = h("button", { id: "silence-preview", type: "button", onclick: () => preview() }, "Preview");
    const createBtn = h("button", { id: "silence-create", type: "submit", class: "primary" }, "Create silence");
    const previewOut = h("div", { id: "silence-preview-result", "aria-live": "polite" });
    const form = h("form", { id: "silence-form", class: "form", novalidate: true, onsubmit: (e) => { e.preventDefault(); create(); } },
      h("div", { class: "row" },
        field("Name", nameIn, "Optional."),
        field("Duration", durationIn, "e.g. 30s, 10m, 2h, 1d4h. Starts now.")),
      field("Matchers", matchersIn, "One KEY=VALUE per line; an alarm must match all of them."),
      field("Comment", descIn, "Optional: why, who, ticket."),
      formErr,
      h("div", { class: "buttons" }, previewBtn, createBtn));

    const showExpired = h("input", { id: "show-expired", type: "checkbox", onchange: () => renderList() });
    const listBox = h("div"), listErr = errorBox();
    const mutedBox = h("div"), mutedErr = errorBox();

    main.append(
      pageHeader("Silences"),
      section("New silence", form, previewOut),
      h("section", { class: "card" },
        h("div", { class: "section-head" }, h("h2", null, "Silences"),
          h("label", { class: "check" }, showExpired, " Show expired")),
        listErr, listBox),
      section("Muted alarms", mutedErr, mutedBox));

    /** The body both the preview and the create send; throws on invalid input. */
    function body() {
      const b = {
        name: nameIn.value.trim() || "silence-" + new Date().toISOString(),
        matchers: parseMatchers(matchersIn.value),
        silence_duration: durationIn.value.trim() || "2h",
        start_time: rfc3339(new Date()),
      };
      if (descIn.value.trim()) b.description = descIn.value.trim();
      return b;
    }

    async function preview() {
      clearError(formErr);
      let b;
      try { b = body(); } catch (e) { showError(formErr, e); return; }
      await busy(previewBtn, "Checking…", async () => {
        try {
          const res = await api("POST", "/v2.0/silence-rules?dry_run=true", b);
          previewOut.replaceChildren(previewResult(res));
        } catch (e) { showError(formErr, e); previewOut.replaceChildren(); }
      });
    }

    function previewResult(res) {
      const alarms = (res && res.would_mute) || [];
      const rule = (res && res.rule) || {};
      const info = [];
      if (rule.expression) info.push(h("div", { class: "small" }, "Expression: ", h("code", null, rule.expression)));
      if (rule.start_time) {
        const { end } = silenceState(rule);
        info.push(h("div", { class: "small" }, "Window: ", when(rule.start_time), " → ", Number.isNaN(end) ? "?" : when(new Date(end).toISOString())));
      }
      if (!alarms.length) return h("div", { class: "preview" }, h("p", { class: "summary" }, "No currently known alarm would be muted."), info);
      const rows = alarms.map((a) => h("tr", { "data-alarm-id": a.alarm_id },
        h("td", null, a.alarm_name || "(unnamed)"), h("td", null, h("code", { title: a.alarm_id }, shortId(a.alarm_id))),
        h("td", null, stateBadge(a.state)), h("td", { class: "nowrap" }, when(a.last_seen))));
      return h("div", { class: "preview" },
        h("p", { class: "summary" }, `${alarms.length} alarm${alarms.length === 1 ? "" : "s"} would be muted`),
        info, table("would-mute-table", ["Alarm", "Id", "State", "Last seen"], rows, ""));
    }

    async function create() {
      clearError(formErr);
      let b;
      try { b = body(); } catch (e) { showError(formErr, e); return; }
      await busy(createBtn, "Creating…", async () => {
        try {
          await api("POST", "/v2.0/silence-rules", b);
          form.reset();
          durationIn.value = "2h";
          previewOut.replaceChildren();
          reload();
        } catch (e) { showError(formErr, e); }
      });
    }

    async function expire(id, btn) {
      clearError(listErr);
      await busy(btn, "Expiring…", async () => {
        try {
          // Read it fresh: the list may be stale, and the new duration is measured from its start.
          const s = await api("GET", "/v2.0/silence-rules/" + encodeURIComponent(id));
          const start = Date.parse(s.start_time);
          const now = Date.now();
          const d = Number.isNaN(start) || now < start ? "0s" : Math.floor((now - start) / 1000) + "s";
          await api("PATCH", "/v2.0/silence-rules/" + encodeURIComponent(id), { silence_duration: d });
          await reload();
        } catch (e) { showError(listErr, e); }
      });
    }

    function renderList() {
      listBox.replaceChildren(...listNodes());
    }

    function listNodes() {
      const now = Date.now();
      const order = { active: 0, pending: 1, expired: 2 };
      const shown = silences.map((s) => ({ s, ...silenceState(s, now) }))
        .filter((x) => showExpired.checked || x.state !== "expired")
        .sort((a, b) => order[a.state] - order[b.state] || (a.state === "expired" ? b.end - a.end : a.end - b.end));
      const rows = shown.map(({ s, state, end }) => h("tr", { "data-silence-id": s.id },
        h("td", null, h("div", null, s.name), s.description ? h("div", { class: "small muted" }, s.description) : null),
        h("td", null, chips(s.matchers), s.expression ? h("div", { class: "small" }, h("code", null, s.expression)) : null),
        h("td", null, badge(state, "silence-" + state)),
        h("td", { class: "nowrap" }, when(s.start_time)),
        h("td", { class: "nowrap", title: "duration " + s.silence_duration }, Number.isNaN(end) ? "?" : when(new Date(end).toISOString())),
        h("td", null, state === "expired" ? null
          : h("button", { type: "button", class: "expire", onclick: (e) => expire(s.id, e.currentTarget) }, "Expire"))));
      const hiddenCount = silences.length - shown.length;
      return [
        table("silences-table", ["Name", "Matchers / expression", "State", "Starts", "Ends", ""], rows,
          hiddenCount ? `No current silences (${hiddenCount} expired hidden).` : "No silences — create one above to mute matching alarms for a while."),
        hiddenCount && rows.length ? h("p", { class: "small muted" }, `${hiddenCount} expired silence${hiddenCount === 1 ? "" : "s"} hidden.`) : null,
      ];
    }

    async function reload() {
      await Promise.all([
        load(listBox, listErr, () => list("/v2.0/silence-rules"), (els) => { silences = els; return listNodes(); }),
        load(mutedBox, mutedErr, () => list("/v2.0/muted"), mutedTable),
      ]);
    }

    reload();
    // States (pending → active → expired) change with time even when the data does not.
    const timer = setInterval(() => { if (!document.hidden && silences.length) renderList(); }, 15_000);
    page.cleanups.push(() => clearInterval(timer));
  }

  // ---------------------------------------------------------------- Rules

  const VERDICTS = {
    notify: ["Would notify", "The transition is sent to its notification methods."],
    silenced: ["Silenced", "A silence rule mutes this transition: no notification, no group."],
    inhibited: ["Inhibited", "An inhibit rule mutes this transition while its source alarm fires."],
    held: ["Held", "Held back for now: an inhibit rule's wait time or a group's wait is still running."],
    grouped_only: ["Grouped only", "The alarm joins a group and is announced by the group's notification, not on its own."],
    no_methods: ["No methods", "Nothing would be sent: no notification method is attached for this state."],
  };

  function testResult(res) {
    const [title, text] = VERDICTS[res.verdict] || [res.verdict || "?", ""];
    const parts = [h("p", null, badge(title, "verdict-" + cls(res.verdict)), " ", text)];
    const ruleList = (heading, items, extra) => items && items.length
      ? h("div", null, h("h3", null, heading), h("ul", null, items.map((r) => h("li", null, r.name || "(unnamed)", " ", h("code", { class: "small", title: r.rule_id }, shortId(r.rule_id)), extra ? extra(r) : null))))
      : null;
    parts.push(ruleList("Silenced by", res.silenced_by));
    parts.push(ruleList("Inhibited by", res.inhibited_by, (r) => r.source_alarm_id ? [" — source alarm ", h("code", { title: r.source_alarm_id }, shortId(r.source_alarm_id))] : null));
    parts.push(ruleList("Groups", res.groups, (g) => [" ", chips(g.values), g.notice ? [" → ", h("code", null, g.notice)] : null]));
    if (res.methods && res.methods.length) {
      parts.push(h("h3", null, "Methods"), table("rule-test-methods", ["Name", "Type", "Address"],
        res.methods.map((m) => h("tr", null, h("td", null, m.name), h("td", null, m.type), h("td", { class: "address" }, m.address))), ""));
    }
    return parts;
  }

  function renderRules(main, params, page) {
    let methods = [];
    let editing = null; // {kind, id} while the form edits a stored rule
    const methodName = (id) => { const m = methods.find((x) => x.id === id); return m ? m.name : shortId(id); };

    // --- the form
    const formTitle = h("h2", null, "New rule");
    const kindIn = h("select", { id: "rule-kind", onchange: () => syncKind() },
      h("option", { value: "group" }, "group"), h("option", { value: "inhibit" }, "inhibit"));
    const nameIn = h("input", { id: "rule-name", type: "text", autocomplete: "off" });
    const descIn = h("input", { id: "rule-description", type: "text", autocomplete: "off" });
    const exprIn = h("textarea", { id: "rule-expression", rows: 2, spellcheck: "false" });
    const exprHint = h("small", { class: "hint" });
    const groupWaitIn = h("input", { id: "rule-group-wait", type: "text", value: "30s" });
    const repeatIn = h("input", { id: "rule-repeat-interval", type: "text", value: "2h" });
    const actionSelect = (id) => h("select", { id, multiple: true, size: 4 });
    const alarmActs = actionSelect("rule-alarm-actions"), okActs = actionSelect("rule-ok-actions"), undetActs = actionSelect("rule-undetermined-actions");
    const methodsHint = h("p", { class: "small muted" });
    const waitIn = h("input", { id: "rule-wait-time", type: "text", value: "30s" });
    const groupFields = h("fieldset", { class: "kind-fields" }, h("legend", null, "Group rule"),
      h("div", { class: "row" }, field("Group wait", groupWaitIn, "Collects alarms this long before the first notice."),
        field("Repeat interval", repeatIn, "Re-announces an open group this often.")),
      h("div", { class: "row" }, field("ALARM actions", alarmActs), field("OK actions", okActs), field("UNDETERMINED actions", undetActs)),
      methodsHint);
    const inhibitFields = h("fieldset", { class: "kind-fields", hidden: true }, h("legend", null, "Inhibit rule"),
      field("Wait time", waitIn, "How long a target waits for its source before being sent."));
    const formErr = errorBox();
    const saveBtn = h("button", { id: "rule-save", type: "submit", class: "primary" }, "Create rule");
    const cancelBtn = h("button", { id: "rule-cancel", type: "button", hidden: true, onclick: () => resetForm() }, "Cancel edit");
    const form = h("form", { id: "rule-form", class: "form", novalidate: true, onsubmit: (e) => { e.preventDefault(); save(); } },
      h("div", { class: "row" }, field("Kind", kindIn), field("Name", nameIn), field("Description", descIn, "Optional.")),
      h("div", { class: "field" }, h("label", { for: "rule-expression" }, "Expression"), exprIn, exprHint),
      groupFields, inhibitFields, formErr,
      h("div", { class: "buttons" }, cancelBtn, saveBtn));

    // --- tables and the test box
    const groupBox = h("div"), groupErr = errorBox();
    const inhibitBox = h("div"), inhibitErr = errorBox();
    const silenceNote = h("p", null, "Silences are managed on the ", h("a", { href: "#/silences" }, "Silences page"), ".");
    const testIn = h("textarea", { id: "rule-test-input", rows: 3, spellcheck: "false", placeholder: 'an alarm id, or a transition: {"alarm-transitioned": {"alarmId": "…", "alarmName": "…", "newState": "ALARM", "metrics": […], …}}' });
    const testErr = errorBox();
    const testBtn = h("button", { id: "rule-test", type: "submit" }, "Test");
    const testOut = h("div", { id: "rule-test-result", "aria-live": "polite" });

    main.append(
      pageHeader("Rules"),
      section("Group rules", groupErr, groupBox),
      section("Inhibit rules", inhibitErr, inhibitBox),
      section("Silence rules", silenceNote),
      h("section", { class: "card" }, formTitle, form),
      section("Test a transition",
        h("form", { id: "rule-test-form", class: "form", novalidate: true, onsubmit: (e) => { e.preventDefault(); runTest(); } },
          field("Alarm id or transition JSON", testIn, "Shows what the rules would do with it now; nothing is sent."),
          testErr, h("div", { class: "buttons" }, testBtn)),
        testOut));

    function syncKind() {
      const group = kindIn.value === "group";
      groupFields.hidden = !group;
      inhibitFields.hidden = group;
      exprIn.placeholder = group ? "group by hostname" : "source {severity=CRITICAL} targets {severity=HIGH} group by hostname";
      exprHint.textContent = group
        ? "e.g. group by hostname — alarms with the same hostname share one notification."
        : "e.g. source {severity=CRITICAL} targets {severity=HIGH} group by hostname";
    }

    function fillActionSelects() {
      for (const sel of [alarmActs, okActs, undetActs]) {
        const chosen = new Set([...sel.selectedOptions].map((o) => o.value));
        sel.replaceChildren(...methods.map((m) => h("option", { value: m.id, selected: chosen.has(m.id) }, `${m.name} (${m.type})`)));
      }
      methodsHint.replaceChildren(methods.length
        ? "Ctrl/⌘-click to pick several methods."
        : ["No notification methods yet — create one on the ", h("a", { href: "#/methods" }, "Methods page"), "."]);
    }
    const setSelected = (sel, ids) => { const set = new Set(ids || []); for (const o of sel.options) o.selected = set.has(o.value); };
    const selected = (sel) => [...sel.selectedOptions].map((o) => o.value);

    function resetForm() {
      editing = null;
      form.reset();
      kindIn.disabled = false;
      groupWaitIn.value = "30s"; repeatIn.value = "2h"; waitIn.value = "30s";
      formTitle.textContent = "New rule";
      saveBtn.textContent = "Create rule";
      cancelBtn.hidden = true;
      clearError(formErr);
      syncKind();
    }

    function edit(kind, r) {
      resetForm();
      editing = { kind, id: r.id };
      kindIn.value = kind;
      kindIn.disabled = true; // a rule cannot change kind
      nameIn.value = r.name || "";
      descIn.value = r.description || "";
      exprIn.value = r.expression || "";
      if (kind === "group") {
        groupWaitIn.value = r.group_wait || "";
        repeatIn.value = r.repeat_interval || "";
        setSelected(alarmActs, r.alarm_actions); setSelected(okActs, r.ok_actions); setSelected(undetActs, r.undetermined_actions);
      } else {
        waitIn.value = r.wait_time || "";
      }
      formTitle.textContent = `Edit ${kind} rule “${r.name}”`;
      saveBtn.textContent = "Save changes";
      cancelBtn.hidden = false;
      syncKind();
      form.scrollIntoView({ behavior: "smooth", block: "start" });
      nameIn.focus({ preventScroll: true });
    }

    async function save() {
      clearError(formErr);
      const kind = editing ? editing.kind : kindIn.value;
      const b = { name: nameIn.value.trim(), expression: exprIn.value.trim() };
      // On PATCH the description is always sent so that it can be cleared.
      if (editing || descIn.value.trim()) b.description = descIn.value.trim();
      const put = (k, v) => { if (v !== "") b[k] = v; }; // an empty duration takes the server default
      if (kind === "group") {
        put("group_wait", groupWaitIn.value.trim());
        put("repeat_interval", repeatIn.value.trim());
        b.alarm_actions = selected(alarmActs);
        b.ok_actions = selected(okActs);
        b.undetermined_actions = selected(undetActs);
      } else {
        put("wait_time", waitIn.value.trim());
      }
      await busy(saveBtn, "Saving…", async () => {
        try {
          if (editing) await api("PATCH", `/v2.0/${kind}-rules/${encodeURIComponent(editing.id)}`, b);
          else await api("POST", `/v2.0/${kind}-rules`, b);
          resetForm();
          reload();
        } catch (e) { showError(formErr, e); }
      });
    }

    async function remove(kind, r, errEl) {
      clearError(errEl);
      try {
        await api("DELETE", `/v2.0/${kind}-rules/${encodeURIComponent(r.id)}`);
        if (editing && editing.id === r.id) resetForm();
        await reload();
      } catch (e) { showError(errEl, e); }
    }

    const actionList = (ids) => ids && ids.length ? ids.map(methodName).join(", ") : "—";
    function ruleButtons(kind, r, errEl) {
      return h("td", { class: "actions" },
        h("button", { type: "button", class: "edit", onclick: () => edit(kind, r) }, "Edit"), " ",
        confirmButton("Delete", () => remove(kind, r, errEl)));
    }
    const nameCell = (r) => h("td", null, h("div", null, r.name), r.description ? h("div", { class: "small muted" }, r.description) : null);

    function groupTable(rules) {
      return table("group-rules-table", ["Name", "Expression", "Wait / repeat", "Actions", ""], rules.map((r) => h("tr", { "data-rule-id": r.id },
        nameCell(r),
        h("td", null, h("code", null, r.expression)),
        h("td", { class: "nowrap" }, `${r.group_wait} / ${r.repeat_interval}`),
        h("td", { class: "small" },
          h("div", null, "ALARM: ", actionList(r.alarm_actions)),
          h("div", null, "OK: ", actionList(r.ok_actions)),
          r.undetermined_actions && r.undetermined_actions.length ? h("div", null, "UNDETERMINED: ", actionList(r.undetermined_actions)) : null),
        ruleButtons("group", r, groupErr))),
      "No group rules — without one, every alarm transition is notified on its own.");
    }

    function inhibitTable(rules) {
      return table("inhibit-rules-table", ["Name", "Expression", "Wait", ""], rules.map((r) => h("tr", { "data-rule-id": r.id },
        nameCell(r),
        h("td", null, h("code", null, r.expression)),
        h("td", { class: "nowrap" }, r.wait_time),
        ruleButtons("inhibit", r, inhibitErr))),
      "No inhibit rules — add one to mute lesser alarms while a related critical alarm fires.");
    }

    async function reload() {
      // Methods first: the group table shows their names.
      try {
        methods = await list("/v2.0/notification-methods");
        fillActionSelects();
      } catch (e) { showError(formErr, e); }
      await Promise.all([
        load(groupBox, groupErr, () => list("/v2.0/group-rules"), groupTable),
        load(inhibitBox, inhibitErr, () => list("/v2.0/inhibit-rules"), inhibitTable),
      ]);
    }

    async function runTest() {
      clearError(testErr);
      const text = testIn.value.trim();
      let b;
      if (!text) { showError(testErr, "Give an alarm id or a transition as JSON."); return; }
      if (text.startsWith("{")) {
        let obj;
        try { obj = JSON.parse(text); } catch (e) { showError(testErr, "Not valid JSON: " + e.message); return; }
        // Accept the request body itself, or a bare transition (wrapped here).
        const keys = Object.keys(obj || {});
        b = keys.includes("transition") || (keys.length === 1 && keys[0] === "alarm_id") ? obj : { transition: obj };
      } else {
        b = { alarm_id: text };
      }
      await busy(testBtn, "Testing…", async () => {
        try {
          testOut.replaceChildren(...testResult(await api("POST", "/v2.0/rules/test", b)).filter(Boolean));
        } catch (e) { showError(testErr, e); testOut.replaceChildren(); }
      });
    }

    syncKind();
    reload();
  }

  // ---------------------------------------------------------------- Methods

  function renderMethods(main, params, page) {
    const nameIn = h("input", { id: "method-name", type: "text", autocomplete: "off" });
    const typeIn = h("select", { id: "method-type", onchange: () => { addrIn.placeholder = ADDRESS_HINTS[typeIn.value] || ""; } },
      METHOD_TYPES.map((t) => h("option", { value: t }, t)));
    const addrIn = h("input", { id: "method-address", type: "text", autocomplete: "off", placeholder: ADDRESS_HINTS.EMAIL });
    const periodIn = h("select", { id: "method-period" },
      h("option", { value: "0", selected: true }, "0 — notify once per transition"),
      h("option", { value: "60" }, "60 — repeat every 60 s while in ALARM"));
    const formErr = errorBox();
    const createBtn = h("button", { id: "method-create", type: "submit", class: "primary" }, "Create method");
    const form = h("form", { id: "method-form", class: "form", novalidate: true, onsubmit: (e) => { e.preventDefault(); create(); } },
      h("div", { class: "row" }, field("Name", nameIn), field("Type", typeIn), field("Period", periodIn)),
      field("Address", addrIn), formErr, h("div", { class: "buttons" }, createBtn));
    const listBox = h("div"), listErr = errorBox();

    main.append(pageHeader("Notification methods"), section("Methods", listErr, listBox), section("New method", form));

    async function create() {
      clearError(formErr);
      const b = { name: nameIn.value.trim(), type: typeIn.value, address: addrIn.value.trim(), period: Number(periodIn.value) };
      await busy(createBtn, "Creating…", async () => {
        try {
          await api("POST", "/v2.0/notification-methods", b);
          form.reset();
          addrIn.placeholder = ADDRESS_HINTS[typeIn.value] || "";
          reload();
        } catch (e) { showError(formErr, e); }
      });
    }

    async function sendTest(m, btn, out) {
      out.className = "test-result";
      out.textContent = "";
      await busy(btn, "Sending…", async () => {
        try {
          const res = await api("POST", `/v2.0/notification-methods/${encodeURIComponent(m.id)}/test`, {});
          const ok = res && res.outcome === "sent";
          out.classList.add(ok ? "ok" : "bad");
          out.textContent = ok ? "✓ sent" : `✗ ${(res && res.outcome) || "failed"}${res && res.reason ? ": " + res.reason : ""}`;
        } catch (e) {
          if (e.silent) return;
          out.classList.add("bad");
          out.textContent = "✗ " + e.message;
        }
      });
    }

    function methodsTable(methods) {
      return table("methods-table", ["Name", "Type", "Address", "Period", ""], methods.map((m) => {
        const out = h("span", { class: "test-result", role: "status" });
        const testBtn = h("button", { type: "button", class: "send-test", onclick: () => sendTest(m, testBtn, out) }, "Send test");
        return h("tr", { "data-method-id": m.id },
          h("td", null, m.name),
          h("td", null, badge(m.type, "type")),
          h("td", { class: "address" }, m.address),
          h("td", { class: "num", title: Number(m.period) ? `repeats every ${m.period} s while in ALARM` : "notifies once" }, String(m.period ?? 0)),
          h("td", { class: "actions" }, testBtn, " ", confirmButton("Delete", async () => {
            clearError(listErr);
            try {
              await api("DELETE", "/v2.0/notification-methods/" + encodeURIComponent(m.id));
              await reload();
            } catch (e) { showError(listErr, e); }
          }), " ", out));
      }), "No notification methods — create one below, then attach it to alarm definitions or group rules.");
    }

    const reload = () => load(listBox, listErr, () => list("/v2.0/notification-methods"), methodsTable);
    reload();
  }

  // ---------------------------------------------------------------- History

  // Hash parameter → API parameter names are the same, so a shared link is also the query.
  const HISTORY_PARAMS = ["alarm_id", "definition_id", "method_id", "state", "outcome", "since", "until", "offset"];

  function renderHistory(main, params, page) {
    const alarmIn = h("input", { id: "filter-alarm", type: "text", autocomplete: "off", placeholder: "any" });
    const defIn = h("input", { id: "filter-definition", type: "text", autocomplete: "off", placeholder: "any" });
    const methodIn = h("input", { id: "filter-method", type: "text", autocomplete: "off", placeholder: "any", list: "method-options" });
    const methodOptions = h("datalist", { id: "method-options" });
    const stateIn = h("select", { id: "filter-state" }, h("option", { value: "" }, "any"), STATES.map((s) => h("option", { value: s }, s)));
    const outcomeIn = h("select", { id: "filter-outcome" }, h("option", { value: "" }, "any"), OUTCOMES.map((o) => h("option", { value: o }, o)));
    const sinceIn = h("input", { id: "filter-since", type: "datetime-local" });
    const untilIn = h("input", { id: "filter-until", type: "datetime-local" });
    const filterErr = errorBox();
    const filters = h("form", { id: "history-filters", class: "form filters", novalidate: true, onsubmit: (e) => { e.preventDefault(); apply(); } },
      h("div", { class: "row" }, field("Alarm id", alarmIn), field("Definition id", defIn), field("Method id", methodIn), methodOptions),
      h("div", { class: "row" }, field("State", stateIn), field("Outcome", outcomeIn), field("Since", sinceIn), field("Until", untilIn)),
      filterErr,
      h("div", { class: "buttons" },
        h("button", { type: "button", onclick: () => { filters.reset(); apply(); } }, "Clear"),
        h("button", { id: "history-apply", type: "submit", class: "primary" }, "Apply")));
    const tableBox = h("div"), tableErr = errorBox();
    const status = h("span", { class: "muted small" });
    const newestBtn = h("button", { id: "history-newest", type: "button", hidden: true, onclick: () => fetchPage(firstPath, 0) }, "« Newest");
    const nextBtn = h("button", { id: "history-next", type: "button", hidden: true, onclick: () => fetchPage(nextPath, pageStart + shownCount) }, "Older ›");

    main.append(pageHeader("History"), section("Filters", filters),
      h("section", { class: "card" }, h("h2", null, "Notifications"), tableErr, tableBox,
        h("div", { class: "pager" }, status, h("span", { class: "buttons" }, newestBtn, nextBtn))));

    let firstPath = "", nextPath = null, pageStart = 0, shownCount = 0;

    function fillForm(p) {
      alarmIn.value = p.get("alarm_id") || "";
      defIn.value = p.get("definition_id") || "";
      methodIn.value = p.get("method_id") || "";
      stateIn.value = STATES.includes(p.get("state")) ? p.get("state") : "";
      outcomeIn.value = OUTCOMES.includes(p.get("outcome")) ? p.get("outcome") : "";
      sinceIn.value = isoToLocalInput(p.get("since"));
      untilIn.value = isoToLocalInput(p.get("until"));
    }

    function apply() {
      clearError(filterErr);
      const since = localInputToIso(sinceIn.value), until = localInputToIso(untilIn.value);
      if (since && until && since > until) { showError(filterErr, "“Since” is after “Until”."); return; }
      const q = {
        alarm_id: alarmIn.value.trim(), definition_id: defIn.value.trim(), method_id: methodIn.value.trim(),
        state: stateIn.value, outcome: outcomeIn.value, since, until,
      };
      const hash = withQuery("#/history", q);
      // pushState (unlike assigning location.hash) fires no hashchange, so load here directly;
      // Back still fires hashchange and lands in update() below.
      if (location.hash !== hash) history.pushState(null, "", hash);
      update(new URLSearchParams(withQuery("", q).slice(1)));
    }

    async function fetchPage(path, start) {
      if (!path) return;
      const els = await load(tableBox, tableErr, () => api("GET", path), (d) => {
        const next = ((d && d.links) || []).find((l) => l.rel === "next");
        nextPath = null;
        if (next && next.href) {
          // Follow only the path and query of the link, on this origin.
          const u = new URL(next.href, location.href);
          if (u.pathname.startsWith("/v2.0/")) nextPath = u.pathname + u.search;
        }
        shownCount = ((d && d.elements) || []).length;
        return notificationsTable("history-table", (d && d.elements) || [],
          start ? "No older notifications." : "No notifications match these filters.", (id) => { alarmIn.value = id; apply(); });
      });
      if (els === null) return; // error shown; keep the pager as it was
      pageStart = start;
      nextBtn.hidden = !nextPath;
      newestBtn.hidden = pageStart === 0;
      status.textContent = shownCount ? `Showing ${pageStart + 1}–${pageStart + shownCount}` : "";
      if (start) tableBox.scrollIntoView({ block: "nearest" });
    }

    function update(p) {
      fillForm(p);
      const q = {};
      for (const k of HISTORY_PARAMS) if (p.get(k) && k !== "offset") q[k] = p.get(k);
      const offset = Number(p.get("offset")) || 0; // only from a shared link; Apply starts at the newest
      firstPath = withQuery("/v2.0/notifications", { ...q, limit: HISTORY_PAGE });
      fetchPage(withQuery("/v2.0/notifications", { ...q, offset: offset || "", limit: HISTORY_PAGE }), offset);
    }

    page.update = update;
    update(params);
    // The method filter suggests the tenant's methods by name; a failure here is not worth a message.
    list("/v2.0/notification-methods").then((ms) => {
      methodOptions.replaceChildren(...ms.map((m) => h("option", { value: m.id, label: `${m.name} (${m.type})` })));
    }, () => {});
  }

  // ---------------------------------------------------------------- router

  const PAGES = {
    overview: { title: "Overview", render: renderOverview },
    silences: { title: "Silences", render: renderSilences },
    rules: { title: "Rules", render: renderRules },
    methods: { title: "Methods", render: renderMethods },
    history: { title: "History", render: renderHistory },
  };
  let current = null; // {name, cleanups, update?}

  function parseHash() {
    const raw = location.hash.replace(/^#\/?/, "");
    const q = raw.indexOf("?");
    return { name: q < 0 ? raw : raw.slice(0, q), params: new URLSearchParams(q < 0 ? "" : raw.slice(q + 1)) };
  }

  function leavePage() {
    if (current) for (const fn of current.cleanups) fn();
    current = null;
  }

  function markNav(name) {
    for (const a of document.querySelectorAll("#nav a")) {
      const on = a.getAttribute("data-page") === name;
      a.classList.toggle("active", on);
      if (on) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
    }
  }

  function route() {
    if (!getToken()) { showSignIn(); return; }
    let { name, params } = parseHash();
    if (!PAGES[name]) {
      name = "overview";
      params = new URLSearchParams();
      history.replaceState(null, "", "#/overview");
    }
    document.body.classList.remove("signed-out");
    showTokenHint();
    markNav(name);
    // Within the same page (history filters, Back/Forward), update instead of rebuilding.
    if (current && current.name === name && current.update) { current.update(params); return; }
    leavePage();
    current = { name, cleanups: [] };
    const main = $("#main");
    main.replaceChildren();
    document.title = PAGES[name].title + " · Tocsin";
    PAGES[name].render(main, params, current);
  }

  // ---------------------------------------------------------------- sign-in

  function showTokenHint() {
    // Enough of the token to tell two sessions apart, never enough to use it.
    const t = getToken();
    const n = t.length >= 16 ? 4 : t.length >= 8 ? 2 : 0;
    $("#token-hint").textContent = "token …" + (n ? t.slice(-n) : "");
  }

  function signOut(message) {
    const wasSignedIn = !!getToken();
    setToken("");
    // Several requests may fail with 401 at once: only the first one re-renders the form.
    if (wasSignedIn || !message) showSignIn(message);
  }

  function showSignIn(message) {
    leavePage();
    document.body.classList.add("signed-out");
    markNav(null);
    $("#token-hint").textContent = "";
    document.title = "Sign in · Tocsin";
    const tokenIn = h("input", { id: "token", type: "password", autocomplete: "current-password", spellcheck: "false" });
    const err = h("p", { id: "sign-in-error", class: "error", role: "alert", hidden: true });
    const btn = h("button", { id: "sign-in", type: "submit", class: "primary" }, "Sign in");
    const form = h("form", {
      id: "sign-in-form", class: "form", novalidate: true,
      onsubmit: async (e) => {
        e.preventDefault();
        clearError(err);
        const token = tokenIn.value.trim();
        if (!token) { showError(err, "Enter a token."); return; }
        await busy(btn, "Checking…", async () => {
          try {
            await api("GET", "/v2.0/notifications?limit=1", undefined, { token });
          } catch (e2) {
            // Only a refused token keeps the form; other errors (e.g. 503) are for the pages to show.
            if (e2.status === 401 || e2.status === 0) { showError(err, e2); return; }
          }
          setToken(token);
          route();
        });
      },
    }, field("API token or Keystone token", tokenIn), err, h("div", { class: "buttons" }, btn));
    $("#main").replaceChildren(h("section", { class: "card signin" },
      h("h1", null, "Sign in to Tocsin"),
      h("p", { class: "muted" }, "The token is kept in this browser tab only (session storage) and sent with each API request."),
      form));
    if (message) showError(err, message);
    tokenIn.focus();
  }

  // ---------------------------------------------------------------- start

  $("#sign-out").addEventListener("click", () => { signOut(); });
  window.addEventListener("hashchange", route);
  route();
})();
