// What runs on its own: beat's entries (for operators) and the user's integration syncs.

import { h, fill } from "./dom.js";
import { STATUS, duration, shortId } from "./format.js";
import { timeAgo } from "./jobs.js";

function lastRun(run, hrefFor, now) {
  if (!run) return h("span", { class: "muted" }, "not yet");
  const s = STATUS[run.status] || { icon: "?", word: run.status };
  return h("span", {}, timeAgo(run.created_at, now), " ",
    h("a", { href: hrefFor(run.job_id), title: run.job_id, dataset: { job: run.job_id } }, shortId(run.job_id)),
    ` ${s.icon} ${s.word}`);
}

/** When something is due: "in 26 s", or "due now" once its time has come. */
function due(iso, now) {
  if (new Date(iso).getTime() - now < 5_000) return h("span", {}, "due now");
  return timeAgo(iso, now);
}

function every(seconds) {
  return `every ${duration(seconds * 1000)}`;
}

export function renderSchedules(container, data, { hrefFor, now }) {
  const parts = [];
  if (data.beat.length) {
    parts.push(h("table", { class: "schedule" },
      h("caption", {}, "What beat runs"),
      h("thead", {}, h("tr", {}, ["Task", "Interval", "Last run", "Next run"].map((t) =>
        h("th", { scope: "col" }, t)))),
      h("tbody", {}, data.beat.map((entry) => h("tr", {},
        h("th", { scope: "row" }, entry.label),
        h("td", {}, every(entry.interval_seconds)),
        h("td", {}, lastRun(entry.last_run, hrefFor, now)),
        h("td", {}, entry.next_run_at ? due(entry.next_run_at, now) : "at beat's next tick"))))));
  }
  if (data.user_id !== null) {
    parts.push(data.integrations.length ? h("table", { class: "schedule" },
      h("caption", {}, `Integrations of user #${data.user_id}`),
      h("thead", {}, h("tr", {}, ["Provider", "Syncs", "Last successful sync", "Next sync", "Last job"].map((t) =>
        h("th", { scope: "col" }, t)))),
      h("tbody", {}, data.integrations.map((i) => h("tr", {},
        h("th", { scope: "row" }, i.label, i.enabled ? "" : " (disabled)"),
        h("td", {}, every(i.interval_seconds)),
        h("td", {}, i.last_success_at ? timeAgo(i.last_success_at, now) : "never"),
        h("td", {}, i.next_sync_at ? due(i.next_sync_at, now)
          : i.enabled ? "after onboarding" : "reconnect to resume"),
        h("td", {}, lastRun(i.last_job, hrefFor, now),
          i.last_error ? h("span", { class: "error-text" }, ` ${i.last_error}`) : null)))))
      : h("p", { class: "muted" }, "No integrations connected: connect Follow Up Boss or reZEN " +
        "(POST /api/v2/integrations) and their syncs appear here."));
  }
  if (!parts.length) {
    parts.push(h("p", { class: "muted" }, "Pick a user to see their integrations' syncs."));
  }
  fill(container, parts);
}
