// The dashboard: signs in with an API token, then shows the queues, the schedules and the
// recent jobs of one user (or, for operators, any user or all), refreshing while visible.
// Everything comes from the JSON API under that token, so the server decides what is seen.

import { Api, ApiError } from "./api.js";
import { forgetToken, storeToken, storedToken } from "./auth.js";
import { $, fill, h } from "./dom.js";
import { ACTIVE, QUEUE_LABELS, STATUS, TYPE_LABELS, number, relativeTime, shortId, typeLabel } from "./format.js";
import { renderDetail } from "./detail.js";
import { jobItem, jobsSkeleton } from "./jobs.js";
import { queueSkeleton, renderQueues } from "./queues.js";
import { CHOICES, Poller } from "./refresh.js";
import { renderSchedules } from "./schedules.js";
import { hasFilters, jobFilter, jobsQuery, readState, scopeParams, urlFor } from "./state.js";

const SCHEDULES_EVERY_MS = 30_000;
const HISTORY_MINUTES = 60;
const TIMES_EVERY_MS = 10_000;

const page = {
  api: null,
  me: null,
  state: readState(),
  cursors: [], // the cursors of the pages before this one; [] on the first page
  cursor: null,
  status: null,
  history: null,
  historyMinute: null,
  renderedMinute: null,
  jobs: null,
  detail: null,
  detailEnded: false,
  schedulesAt: 0,
  watched: new Map(), // job id -> last status seen, for "notify me"
  prefetched: new Map(), // path -> the answer asked for at sign-in, until a refresh uses it
  lastSuccess: null,
  poller: null,
};

// -- signing in and out --------------------------------------------------------------------

function showSignIn(message) {
  if (page.poller) page.poller.stop();
  page.api = null;
  $("app").hidden = true;
  $("signin").hidden = false;
  $("signin-error").textContent = message || "";
  $("token-input").value = "";
  $("token-input").focus();
  document.title = "Sign in – Background Tasks";
}

async function signIn(token) {
  forgetView();
  page.api = new Api(token, {
    onUnauthorized: () => {
      forgetToken();
      showSignIn("That token was not accepted (unknown or revoked). Sign in again.");
    },
  });
  // Who we are and the first view are asked for at once: the view's requests depend only on
  // the URL, and the first refresh picks up their answers (Api.get shares them).
  const first = [statusPath(), jobsPath(), historyPath()].map((path) => {
    const answer = page.api.get(path);
    page.prefetched.set(path, answer);
    return answer.catch(() => null);
  });
  try {
    page.me = (await page.api.get("/me")).data;
  } catch (err) {
    if (err.status !== 401) showSignIn(`Could not sign in: ${err.message}`);
    return;
  }
  storeToken(token);
  $("signin").hidden = true;
  $("app").hidden = false;
  $("whoami").textContent = `${page.me.email}${page.me.is_admin ? " (operator)" : ""}`;
  $("user-picker").hidden = !page.me.is_admin;
  showFlowerLink(page.me.flower_url);
  start();
  await Promise.all(first);
  if (page.me.is_admin) loadUsers(""); // after the first view: it is not what people wait for
}

/** Operators get a link to Flower when one runs (the server says where, and only to them). */
function showFlowerLink(url) {
  const link = $("flower-link");
  const safe = typeof url === "string" && /^https?:\/\//i.test(url);
  link.hidden = !safe;
  link.href = safe ? url : "#";
}

/** Drop what was shown to whoever was signed in before. */
function forgetView() {
  Object.assign(page, { status: null, history: null, historyMinute: null, jobs: null, detail: null,
    detailEnded: false, schedulesAt: 0, cursors: [], cursor: null, lastSuccess: null });
  page.watched.clear();
  page.prefetched.clear();
}

// -- the URL's state -----------------------------------------------------------------------

function hrefFor(jobId) {
  return urlFor({ ...page.state, job: jobId });
}

function navigate(changes, { replace = false } = {}) {
  const filtersChanged = ["user", "queue", "type", "status", "q", "system"].some(
    (key) => key in changes && changes[key] !== page.state[key]);
  if ("user" in changes && changes.user !== page.state.user) page.schedulesAt = 0;
  page.state = { ...page.state, ...changes };
  if (filtersChanged) {
    page.cursors = [];
    page.cursor = null;
  }
  const url = urlFor(page.state);
  if (url !== location.pathname + location.search) {
    history[replace ? "replaceState" : "pushState"](null, "", url);
  }
  applyState(filtersChanged);
}

function applyState(filtersChanged) {
  syncControls();
  if (filtersChanged) {
    page.jobs = null;
    jobsSkeleton($("jobs"));
  }
  if (page.state.job !== (page.detail && page.detail.id)) {
    page.detail = null;
    page.detailEnded = false;
    if (page.jobs && !filtersChanged) renderJobs(); // open or close it at once
  }
  page.poller.now();
}

function syncControls() {
  const s = page.state;
  $("filter-type").value = s.type;
  $("filter-status").value = s.status;
  $("filter-queue").value = s.queue;
  if (document.activeElement !== $("filter-q")) $("filter-q").value = s.q;
  $("filter-system").checked = Boolean(s.system);
  $("system-field").hidden = !(page.me && page.me.is_admin && !s.user);
  if (page.me && page.me.is_admin) ensureUserOption(s.user);
  $("user-select").value = s.user;
  const who = s.user ? `User #${s.user}` : page.me && page.me.is_admin ? "All users" : `User #${page.me.id}`;
  $("page-title").textContent = `Background Tasks – ${who}`;
}

// -- the user picker (operators) -----------------------------------------------------------

function ensureUserOption(userId) {
  const select = $("user-select");
  if (userId && ![...select.options].some((o) => o.value === userId)) {
    select.append(h("option", { value: userId }, `User #${userId}`));
  }
}

async function loadUsers(q) {
  const params = new URLSearchParams({ limit: "200" });
  if (q) params.set("q", q);
  let users = [];
  try {
    users = (await page.api.get(`/users?${params}`)).data.users;
  } catch (err) {
    return; // the picker keeps what it had
  }
  const select = $("user-select");
  fill(select, h("option", { value: "" }, "All users"), users.map((u) => {
    const active = u.jobs.pending + u.jobs.processing;
    return h("option", { value: String(u.id) },
      `#${u.id} ${u.email}${active ? ` (${number(active)} active)` : ""}`);
  }));
  ensureUserOption(page.state.user);
  select.value = page.state.user;
}

// -- refreshing ----------------------------------------------------------------------------

function scopeQuery() {
  const params = scopeParams(page.state);
  const query = params.toString();
  return query ? `?${query}` : "";
}

function statusPath() {
  return `/job-queue-status${scopeQuery()}`;
}

function jobsPath() {
  return `/jobs?${jobsQuery(page.state, page.cursor)}`;
}

function historyPath() {
  const scope = scopeQuery();
  return `/job-queue-status/history${scope}${scope ? "&" : "?"}minutes=${HISTORY_MINUTES}`;
}

/** The chart moved on to `minute` with nothing ended since it was fetched: the minutes that
 * passed are zeros, so it is shifted here rather than asked for again. */
function shiftHistory(minute) {
  const gone = minute - page.historyMinute;
  if (gone <= 0) return;
  for (const queue of page.history.queues) {
    for (const status of ["complete", "error", "cancelled"]) {
      const values = queue[status].slice(Math.min(gone, HISTORY_MINUTES));
      queue[status] = values.concat(new Array(HISTORY_MINUTES - values.length).fill(0));
    }
  }
  page.history.start = new Date(Date.parse(page.history.start) + gone * 60_000).toISOString();
  page.historyMinute = minute;
}

/** A view's answer: the one asked for at sign-in if it is still unused, else a new ask. */
function view(path) {
  const prefetched = page.prefetched.get(path);
  page.prefetched.delete(path);
  return prefetched || page.api.get(path);
}

async function refresh() {
  const api = page.api;
  if (!api) return;
  const historyAt = historyPath();
  const status = await view(statusPath());
  const minute = Math.floor(Date.now() / 60_000);
  const listAt = jobsPath();
  // The status's ETag moves with every change in the scope: when it has not moved, neither
  // has the list or the chart, and asking again would only cost requests.
  const listStale = status.changed || !page.jobs || page.jobs.path !== listAt;
  const historyStale = status.changed || !page.history || page.history.path !== historyAt;
  const [jobs, historyData] = await Promise.all([
    listStale ? view(listAt) : null,
    historyStale ? view(historyAt) : null,
  ]);
  page.prefetched.clear();
  if (historyData) {
    page.history = { ...historyData.data, path: historyAt };
    page.historyMinute = minute;
  } else if (page.historyMinute !== minute) {
    shiftHistory(minute);
  }
  if (status.changed || historyData || !page.status || minute !== page.renderedMinute) {
    page.renderedMinute = minute;
    page.status = status.data;
    renderQueues($("queues-body"), page.status, page.history, countLink);
    const active = page.status.totals.pending + page.status.totals.processing;
    document.title = `${active ? `(${number(active)}) ` : ""}Background Tasks`;
  }
  if (page.state.job) await refreshDetail();
  if (jobs && (jobs.changed || !page.jobs || page.jobs.path !== listAt)) {
    page.jobs = { ...jobs.data, path: listAt };
    renderJobs();
  } else if (page.state.job && page.detail && !$(`detail-${page.detail.id}`)) {
    renderJobs();
  }
  await checkWatched();
  if (Date.now() - page.schedulesAt > SCHEDULES_EVERY_MS) {
    page.schedulesAt = Date.now();
    refreshSchedules(); // not awaited: the panel is not worth holding the refresh for
  }
  page.lastSuccess = Date.now();
  hideNotice();
  showUpdated();
}

async function refreshDetail() {
  const id = page.state.job;
  if (page.detail && page.detail.id === id && page.detailEnded) return; // an ended job is final
  try {
    const { data, changed } = await page.api.get(`/jobs/${encodeURIComponent(id)}`);
    if (changed || !page.detail) {
      page.detail = data;
      page.detailEnded = !ACTIVE.has(data.status);
      renderJobs();
    }
  } catch (err) {
    if (err.status === 404 || err.status === 400) {
      page.detail = { id, missing: err.message };
      page.detailEnded = true;
      renderJobs();
      return;
    }
    throw err;
  }
}

async function refreshSchedules() {
  try {
    const { data } = await page.api.get(`/schedules${page.state.user ? `?user_id=${page.state.user}` : ""}`);
    renderSchedules($("schedules-body"), data, { hrefFor, now: Date.now() });
  } catch (err) {
    fill($("schedules-body"), h("p", { class: "error-text" }, `Schedules unavailable: ${err.message}`));
  }
}

function countLink(queue, status) {
  return urlFor({ ...page.state, job: null, queue, status });
}

// -- rendering the list --------------------------------------------------------------------

function jobActions(job) {
  const actions = [];
  if (ACTIVE.has(job.status) && !job.cancel_requested) {
    actions.push(h("button", { type: "button", class: "secondary", dataset: { action: "cancel", job: job.id } },
      "Cancel"));
  }
  if (job.status === "error" || job.status === "cancelled") {
    actions.push(h("button", { type: "button", dataset: { action: "retry", job: job.id } }, "Retry"));
  }
  return actions;
}

function detailControls(job) {
  const controls = jobActions(job);
  const file = job.result && typeof job.result === "object" ? job.result.file : null;
  if (file && job.status === "complete") {
    controls.push(h("button", { type: "button", class: "secondary", dataset: { action: "download", job: job.id } },
      "Download file"));
  }
  if (ACTIVE.has(job.status) && "Notification" in window) {
    const watching = page.watched.has(job.id);
    controls.push(h("label", { class: "toggle" },
      h("input", { type: "checkbox", dataset: { action: "notify", job: job.id }, checked: watching }),
      " Notify me when it ends"));
  }
  controls.push(h("a", { href: urlFor({ ...page.state, job: null }), class: "close", dataset: { close: "1" } },
    "Close"));
  return controls;
}

function detailElement() {
  const d = page.detail;
  if (!d) return h("p", { class: "muted detail" }, "Loading the job…");
  if (d.missing) {
    return h("section", { class: "detail", id: `detail-${d.id}` },
      h("p", { class: "error-text" }, d.missing),
      h("a", { href: urlFor({ ...page.state, job: null }), dataset: { close: "1" } }, "Back to the list"));
  }
  return renderDetail(d, { now: Date.now(), isAdmin: page.me.is_admin, hrefFor, controls: detailControls(d) });
}

function renderJobs() {
  const list = $("jobs");
  const focus = focusKey();
  const now = Date.now();
  const showUser = page.me.is_admin && !page.state.user;
  const jobs = page.jobs ? page.jobs.jobs : [];
  const open = page.state.job;
  let placed = false;
  fill(list, jobs.map((job) => {
    const item = jobItem(job, { now, showUser, expanded: job.id === open, href: hrefFor(job.id),
      actions: job.id === open ? [] : jobActions(job) });
    if (job.id === open) {
      item.append(detailElement());
      placed = true;
    }
    return item;
  }));
  fill($("detail-pinned"), open && !placed ? detailElement() : null);
  renderEmpty(jobs.length === 0 && page.jobs !== null);
  $("older").hidden = !(page.jobs && page.jobs.next_cursor);
  $("newer").hidden = page.cursors.length === 0 && !page.cursor;
  restoreFocus(focus);
}

function renderEmpty(empty) {
  const box = $("jobs-empty");
  box.hidden = !empty;
  if (!empty) return;
  if (page.jobs && page.jobs.next_cursor) {
    // A short search text is looked for in a bounded number of jobs a request.
    fill(box, h("p", {}, "No match among the jobs searched so far; \u201cOlder\u201d searches on."));
  } else if (hasFilters(page.state) || page.cursor) {
    fill(box, h("p", {}, "No jobs match these filters."),
      h("button", { type: "button", class: "link", dataset: { action: "clear" } }, "Clear filters"));
  } else {
    fill(box, h("p", {}, h("strong", {}, "No jobs yet.")),
      h("p", {}, "Connect Follow Up Boss or reZEN and their first import starts here; CSV " +
        "imports and exports show up too. Jobs appear the moment they are queued."));
  }
}

function focusKey() {
  const el = document.activeElement;
  if (!el || !$("jobs").contains(el) && !$("detail-pinned").contains(el)) return null;
  return { action: el.dataset.action, job: el.dataset.job, tag: el.tagName };
}

function restoreFocus(key) {
  if (!key || !key.job) return;
  const selector = key.action ? `[data-action="${key.action}"][data-job="${CSS.escape(key.job)}"]`
    : `${key.tag.toLowerCase()}[data-job="${CSS.escape(key.job)}"]`;
  const el = document.querySelector(selector);
  if (el) el.focus();
}

// -- actions -------------------------------------------------------------------------------

function say(message, kind = "ok") {
  const box = $("outcome");
  box.className = `outcome ${kind}`;
  box.textContent = message;
}

async function act(action, jobId) {
  const title = page.detail && page.detail.id === jobId ? `${typeLabel(page.detail.type)} ${shortId(jobId)}`
    : shortId(jobId);
  try {
    const job = await page.api.post(`/jobs/${jobId}/${action}`);
    if (action === "retry") {
      say(`Retried ${title} as ${shortId(job.id)}.`);
    } else {
      say(job.status === "cancelled" ? `Cancelled ${title}.` : `Asked ${title} to stop; it stops at its next check.`);
    }
    page.detailEnded = false;
    page.detail = page.detail && page.detail.id === jobId ? page.detail : null;
  } catch (err) {
    say(`Could not ${action} ${title}: ${err.message}`, "bad");
  }
  page.poller.now();
}

async function download(jobId) {
  try {
    const { blob, name } = await page.api.download(`/jobs/${jobId}/file`);
    const url = URL.createObjectURL(blob);
    const link = h("a", { href: url, download: name, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
    say(`Downloaded ${name}.`);
  } catch (err) {
    say(`Could not download: ${err.message}`, "bad");
  }
}

async function toggleNotify(jobId, on) {
  if (!on) {
    page.watched.delete(jobId);
    return;
  }
  // Asked here, on the user's click, never on page load.
  const permission = Notification.permission === "default"
    ? await Notification.requestPermission() : Notification.permission;
  if (permission !== "granted") {
    say("Notifications are blocked for this site; allow them in the browser to be told.", "bad");
    const box = document.querySelector(`[data-action="notify"][data-job="${CSS.escape(jobId)}"]`);
    if (box) box.checked = false;
    return;
  }
  page.watched.set(jobId, null);
  say(`You will be notified when ${shortId(jobId)} ends.`);
}

async function checkWatched() {
  for (const id of [...page.watched.keys()]) {
    let job = page.detail && page.detail.id === id ? page.detail : null;
    if (!job && page.jobs) job = page.jobs.jobs.find((j) => j.id === id);
    if (!job) {
      try {
        job = (await page.api.get(`/jobs/${id}`)).data;
      } catch (err) {
        continue;
      }
    }
    if (!ACTIVE.has(job.status)) {
      page.watched.delete(id);
      const s = STATUS[job.status];
      const text = job.summary || (job.error ? job.error.message : "") || "";
      new Notification(`${typeLabel(job.type)} ${shortId(id)} ${s.word.toLowerCase()}`, { body: text, tag: id });
    }
  }
}

async function bulk(action) {
  const filter = jobFilter(page.state);
  if (action === "retry") filter.status = "error";
  else if (filter.status && !ACTIVE.has(filter.status)) delete filter.status;
  const noun = action === "retry" ? "failed" : "pending or running";
  let preview;
  try {
    preview = await page.api.post(`/jobs/bulk/${action}`, { ...filter, dry_run: true });
  } catch (err) {
    say(`Could not ${action}: ${err.message}`, "bad");
    return;
  }
  if (!preview.matched) {
    say(`No ${noun} jobs in this view${action === "retry" ? " that were not retried already" : ""}.`);
    return;
  }
  const n = number(preview.matched);
  const yes = await confirmDialog(
    action === "retry" ? `Retry ${n} failed jobs?` : `Cancel ${n} jobs?`,
    action === "retry"
      ? `Each of the ${n} failed jobs in this view that was not retried yet starts again as a new job.`
      : `The ${n} pending or running jobs in this view are cancelled; running ones stop at their next check.`,
    action === "retry" ? `Retry ${n} jobs` : `Cancel ${n} jobs`);
  if (!yes) return;
  try {
    const done = await page.api.post(`/jobs/bulk/${action}`, filter);
    say(action === "retry" ? `Retried ${number(done.acted)} jobs.` : `Cancelled ${number(done.acted)} jobs.`);
  } catch (err) {
    say(`Could not ${action}: ${err.message}`, "bad");
  }
  page.poller.now();
}

function confirmDialog(title, text, yesLabel) {
  const dialog = $("confirm");
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  $("confirm-yes").textContent = yesLabel;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
  });
}

// -- notices and the clock -----------------------------------------------------------------

function showNotice(message) {
  const box = $("notice");
  box.textContent = message;
  box.hidden = false;
}

function hideNotice() {
  $("notice").hidden = true;
}

function showUpdated() {
  const label = $("updated");
  if (!page.lastSuccess) return;
  const seconds = Math.round((Date.now() - page.lastSuccess) / 1000);
  label.textContent = seconds < 1 ? "updated just now" : `updated ${seconds} s ago`;
}

function onRefreshFailed(err, delaySeconds) {
  if (err instanceof ApiError && err.status === 401) return;
  const what = err instanceof ApiError && err.status === 0
    ? "The jobplatform API is not answering" : `Refresh failed: ${err.message}`;
  showNotice(`${what}; trying again in ${delaySeconds} s. What you see is from ${page.lastSuccess
    ? relativeTime(new Date(page.lastSuccess).toISOString()) : "nothing yet"}.`);
  if (!page.jobs) {
    fill($("jobs"));
    const box = $("jobs-empty");
    box.hidden = false;
    fill(box, h("p", { class: "error-text" }, `${what}. The page retries by itself.`));
  }
}

// -- wiring --------------------------------------------------------------------------------

function start() {
  page.state = readState();
  page.poller = page.poller || new Poller(refresh, { onFailure: onRefreshFailed, onRecovery: hideNotice });
  $("refresh-select").value = String(page.poller.seconds);
  queueSkeleton($("queues-body"));
  jobsSkeleton($("jobs"));
  syncControls();
  page.poller.now();
}

function populateFilters() {
  const option = (value, label) => h("option", { value }, label);
  fill($("filter-type"), option("", "All types"), Object.keys(TYPE_LABELS).map((t) => option(t, TYPE_LABELS[t])));
  fill($("filter-status"), option("", "All statuses"), Object.keys(STATUS).map((s) => option(s, STATUS[s].word)));
  fill($("filter-queue"), option("", "All queues"), Object.keys(QUEUE_LABELS).map((q) => option(q, QUEUE_LABELS[q])));
  fill($("refresh-select"), CHOICES.map((s) => option(String(s), s ? `every ${s} s` : "off")));
}

function wire() {
  $("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("token-input").value.trim();
    if (token) signIn(token);
  });
  $("signout").addEventListener("click", () => {
    forgetToken();
    showSignIn("Signed out.");
  });
  for (const [id, key] of [["filter-type", "type"], ["filter-status", "status"], ["filter-queue", "queue"]]) {
    $(id).addEventListener("change", (event) => navigate({ [key]: event.target.value, job: null }));
  }
  $("filter-system").addEventListener("change", (event) => navigate({ system: event.target.checked ? "1" : "" }));
  let typing = null;
  let typed = false; // while one search is being typed, its steps share one history entry
  $("filter-q").addEventListener("input", (event) => {
    clearTimeout(typing);
    typing = setTimeout(() => {
      navigate({ q: event.target.value.trim(), job: null }, { replace: typed });
      typed = true;
    }, 350);
  });
  $("filter-q").addEventListener("blur", () => { typed = false; });
  $("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    clearTimeout(typing);
    navigate({ q: $("filter-q").value.trim(), job: null });
  });
  $("clear-filters").addEventListener("click", () => navigate({ queue: "", type: "", status: "", q: "", job: null }));
  $("user-select").addEventListener("change", (event) => navigate({ user: event.target.value, job: null }));
  let finding = null;
  $("user-search").addEventListener("input", (event) => {
    clearTimeout(finding);
    finding = setTimeout(() => loadUsers(event.target.value.trim()), 300);
  });
  $("refresh-select").addEventListener("change", (event) => page.poller.setSeconds(Number(event.target.value)));
  $("refresh-now").addEventListener("click", () => page.poller.now());
  $("older").addEventListener("click", () => {
    page.cursors.push(page.cursor);
    page.cursor = page.jobs.next_cursor;
    page.poller.now();
  });
  $("newer").addEventListener("click", () => {
    page.cursors = [];
    page.cursor = null;
    page.poller.now();
  });
  $("bulk-retry").addEventListener("click", () => bulk("retry"));
  $("bulk-cancel").addEventListener("click", () => bulk("cancel"));

  // Links inside the page (counts, jobs, close) change the view without a reload.
  document.addEventListener("click", (event) => {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
    const target = event.target.closest("a, button, input");
    if (!target) return;
    const { action, job } = target.dataset;
    if (target.tagName === "A" && target.dataset.status && target.dataset.queue) {
      event.preventDefault();
      navigate({ queue: target.dataset.queue, status: target.dataset.status, job: null });
      $("jobs-heading").focus();
    } else if (target.tagName === "A" && target.dataset.close) {
      event.preventDefault();
      navigate({ job: null });
    } else if (target.tagName === "A" && job) {
      event.preventDefault();
      navigate({ job: page.state.job === job && target.classList.contains("job-title") ? null : job });
    } else if (action === "cancel" || action === "retry") {
      act(action, job);
    } else if (action === "download") {
      download(job);
    } else if (action === "notify") {
      toggleNotify(job, target.checked);
    } else if (action === "clear") {
      navigate({ queue: "", type: "", status: "", q: "", job: null });
    }
  });
  window.addEventListener("popstate", () => {
    const before = page.state;
    page.state = readState();
    const changed = ["user", "queue", "type", "status", "q", "system"].some((k) => before[k] !== page.state[k]);
    if (changed) {
      page.cursors = [];
      page.cursor = null;
    }
    applyState(changed);
  });
  setInterval(showUpdated, 1000);
  setInterval(() => {
    const now = Date.now();
    for (const t of document.querySelectorAll("time.rel")) {
      t.textContent = relativeTime(t.getAttribute("datetime"), now);
    }
  }, TIMES_EVERY_MS);
}

populateFilters();
wire();
const token = storedToken();
if (token) signIn(token);
else showSignIn("");
