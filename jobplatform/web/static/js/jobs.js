// The recent jobs list: one item per job, newest first, with what a person asks of each —
// what it is, how far along, how it ended, and what can be done about it.

import { h } from "./dom.js";
import {
  ACTIVE, STATUS, duration, eta, exactTime, number, rate, relativeTime, shortId, typeLabel,
} from "./format.js";

export function statusBadge(status) {
  const s = STATUS[status] || { icon: "?", word: status };
  return h("span", { class: `badge status-${status}` },
    h("span", { class: "badge-icon", "aria-hidden": "true" }, s.icon), " ", s.word);
}

export function timeAgo(iso, now) {
  return h("time", { class: "rel", datetime: iso, title: exactTime(iso) }, relativeTime(iso, now));
}

function progressText(progress) {
  const unit = progress.unit || "";
  if (progress.total === null || progress.total === undefined) {
    return `${number(progress.current)} ${unit}`.trim();
  }
  if (unit === "%") return `${number(progress.current)}%`;
  return `${number(progress.current)} of ${number(progress.total)} ${unit}`.trim();
}

/** "41%, about 2 min left". */
export function progressHeadline(progress) {
  if (!progress) return "";
  const parts = [];
  if (progress.percent !== null && progress.percent !== undefined) {
    parts.push(`${Math.floor(progress.percent)}%`);
  }
  if (progress.eta_seconds !== null && progress.eta_seconds !== undefined) {
    parts.push(eta(progress.eta_seconds));
  }
  return parts.join(", ");
}

export function progressBlock(job) {
  const p = job.progress;
  if (!p) return h("p", { class: "muted" }, job.status === "pending" ? "Waiting for a worker" : "Started");
  const text = progressText(p);
  const label = `Progress: ${text}`;
  const bar = p.total
    ? h("progress", { max: p.total, value: Math.min(p.current, p.total), "aria-label": label })
    : null;
  return h("div", { class: "progress" },
    h("span", { class: "progress-text" }, label),
    bar,
    p.rate ? h("span", { class: "muted" }, rate(p.rate, p.unit === "%" ? "%" : p.unit)) : null,
    p.message && p.message !== text ? h("span", { class: "progress-message" }, p.message) : null);
}

function headline(job, now) {
  const s = STATUS[job.status] || { verb: job.status };
  if (job.status === "processing") {
    const extra = progressHeadline(job.progress);
    const stopping = job.cancel_requested ? " (stopping…)" : "";
    return [`Processing…${extra ? " " + extra : ""}${stopping}`];
  }
  if (job.status === "pending") {
    return [`${job.retries ? `Waiting to retry (attempt ${job.retries + 1}), queued ` : "Queued "}`,
      timeAgo(job.created_at, now)];
  }
  const when = job.finished_at || job.created_at;
  const took = job.duration_ms !== null ? `, took ${duration(job.duration_ms)}` : "";
  const retried = job.retries ? ` (retried ${job.retries}×)` : "";
  return [`${s.verb} `, timeAgo(when, now), `${took}${retried}`];
}

function body(job) {
  if (job.status === "complete") {
    return job.summary ? h("p", { class: "summary" }, job.summary) : null;
  }
  if (job.status === "processing") return progressBlock(job);
  if (job.error) {
    const prefix = job.status === "error" ? "Error: " : "Last error: ";
    return h("p", { class: "error-text" }, prefix, job.error.message || job.error.type);
  }
  return null;
}

/** One job of the list. `actions` gives its buttons; `href` the URL that opens it. */
export function jobItem(job, { now, showUser, expanded, href, actions }) {
  const title = `${typeLabel(job.type)} ${shortId(job.id)}`;
  return h("li", { class: `job status-${job.status}`, dataset: { id: job.id } },
    h("div", { class: "job-line" },
      statusBadge(job.status),
      h("a", { class: "job-title", href, title: job.id, "aria-expanded": expanded ? "true" : "false",
        "aria-controls": `detail-${job.id}`, dataset: { job: job.id } }, title),
      h("span", { class: "when" }, " – ", headline(job, now)),
      showUser && job.user_id !== null ? h("span", { class: "user muted" }, `User #${job.user_id}`) : null,
      !showUser || job.user_id !== null ? null : h("span", { class: "user muted" }, "system")),
    body(job),
    actions.length ? h("div", { class: "job-actions" }, actions) : null,
  );
}

export function jobsSkeleton(list) {
  list.replaceChildren(...[0, 1, 2, 3, 4].map(() => h("li", { class: "job skeleton-row", "aria-hidden": "true" },
    h("span", { class: "skeleton" }), h("span", { class: "skeleton long" }))));
}

export function isActive(job) {
  return ACTIVE.has(job.status);
}
