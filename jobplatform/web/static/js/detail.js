// One job in full: its timeline (every transition: when, from → to, who, why), its log, its
// parameters and result, the jobs it is linked to, and for operators the traceback.

import { h } from "./dom.js";
import { duration, exactTime, shortId, typeLabel } from "./format.js";
import { progressBlock, statusBadge, timeAgo } from "./jobs.js";

function json(value) {
  return h("pre", { class: "json" }, JSON.stringify(value, null, 2));
}

function fact(term, ...value) {
  return [h("dt", {}, term), h("dd", {}, ...value)];
}

function timeline(events, now) {
  if (!events.length) return h("p", { class: "muted" }, "No history yet.");
  return h("ol", { class: "timeline" }, events.map((e) => h("li", {},
    h("time", { datetime: e.at, title: exactTime(e.at) }, exactTime(e.at)),
    " ",
    h("span", { class: "transition" },
      e.from && e.from !== e.to ? `${e.from} → ${e.to}` : e.from === e.to ? `${e.to} (note)` : `→ ${e.to}`),
    h("span", { class: "actor" }, ` by ${e.actor}`),
    e.reason ? h("span", { class: "reason" }, ` — ${e.reason}`) : null,
    h("span", { class: "muted" }, " (", timeAgo(e.at, now), ")"))));
}

function logLines(logs) {
  if (!logs.length) return h("p", { class: "muted" }, "Nothing logged.");
  return h("ol", { class: "logs" }, logs.map((line) => h("li", { class: `log-${line.level.toLowerCase()}` },
    h("time", { datetime: line.at, title: exactTime(line.at) }, new Date(line.at).toLocaleTimeString()),
    " ", h("span", { class: "level" }, line.level), " ", h("span", { class: "log-message" }, line.message))));
}

function jobLink(id, hrefFor) {
  return h("a", { href: hrefFor(id), title: id, dataset: { job: id } }, shortId(id));
}

/** The detail of `job`; `controls` are its action buttons and toggles. */
export function renderDetail(job, { now, isAdmin, hrefFor, controls }) {
  const linked = [];
  if (job.retry_of) linked.push(fact("Retry of", jobLink(job.retry_of, hrefFor)));
  if (job.retried_as && job.retried_as.length) {
    linked.push(fact("Retried as", ...job.retried_as.flatMap((id, i) =>
      i ? [", ", jobLink(id, hrefFor)] : [jobLink(id, hrefFor)])));
  }
  return h("section", { class: "detail", id: `detail-${job.id}`, "aria-label": `Job ${shortId(job.id)} in detail` },
    h("div", { class: "detail-head" },
      h("h3", {}, `${typeLabel(job.type)} ${shortId(job.id)}`), " ", statusBadge(job.status)),
    controls.length ? h("div", { class: "detail-actions" }, controls) : null,
    h("dl", { class: "facts" },
      fact("Job id", h("code", {}, job.id)),
      fact("Queue", job.queue),
      job.user_id !== null ? fact("User", `#${job.user_id}`) : fact("User", "system"),
      fact("Created", timeAgo(job.created_at, now)),
      job.started_at ? fact("Started", timeAgo(job.started_at, now)) : [],
      job.finished_at ? fact("Finished", timeAgo(job.finished_at, now)) : [],
      job.duration_ms !== null ? fact("Ran for", duration(job.duration_ms)) : [],
      job.worker ? fact("Worker", job.worker) : [],
      job.retries ? fact("Retries", String(job.retries)) : [],
      linked),
    job.status === "processing" ? progressBlock(job) : null,
    job.summary ? h("p", { class: "summary" }, job.summary) : null,
    job.error ? h("p", { class: "error-text" }, `${job.error.type}: ${job.error.message || ""}`) : null,
    h("h4", {}, "History"), timeline(job.events, now),
    h("h4", {}, "Log"), logLines(job.logs),
    h("h4", {}, "Parameters"), json(job.params),
    job.result !== null && job.result !== undefined ? [h("h4", {}, "Result"), json(job.result)] : null,
    isAdmin && job.traceback ? h("details", { class: "traceback" },
      h("summary", {}, "Traceback (operators only)"), h("pre", {}, job.traceback)) : null,
  );
}
