// The queue summary: a row per queue with its counts (each a link that filters the list) and
// a chart of the last hour, jobs done and failed per minute.

import { h, svg, fill } from "./dom.js";
import { number } from "./format.js";

const COLUMNS = ["pending", "processing", "complete", "error", "cancelled"];
const WIDTH = 120;
const HEIGHT = 24;

/** An inline SVG bar chart: a bar per minute of jobs done, failed ones stacked on top in their
 * own colour and marked with a tick below, so failures read without colour. */
export function sparkline(label, complete, error) {
  const minutes = complete.length;
  const done = complete.reduce((a, b) => a + b, 0);
  const failed = error.reduce((a, b) => a + b, 0);
  const peak = Math.max(1, ...complete.map((c, i) => c + error[i]));
  const step = WIDTH / minutes;
  const chart = svg("svg", {
    viewBox: `0 0 ${WIDTH} ${HEIGHT + 4}`, width: WIDTH, height: HEIGHT + 4,
    role: "img", class: "spark",
    "aria-label": `${label}, last ${minutes} minutes: ${number(done)} done, ` +
      `${number(failed)} failed, at most ${number(peak)} a minute`,
  });
  chart.append(svg("title", {}, `${number(done)} done, ${number(failed)} failed in the last ` +
    `${minutes} minutes`));
  chart.append(svg("line", { x1: 0, y1: HEIGHT, x2: WIDTH, y2: HEIGHT, class: "spark-base" }));
  for (let i = 0; i < minutes; i += 1) {
    const okHeight = (complete[i] / peak) * HEIGHT;
    const errHeight = (error[i] / peak) * HEIGHT;
    const x = i * step + 0.2;
    const w = Math.max(0.6, step - 0.4);
    if (complete[i]) {
      chart.append(svg("rect", { x, y: HEIGHT - okHeight, width: w, height: okHeight,
        class: "spark-done" }));
    }
    if (error[i]) {
      chart.append(svg("rect", { x, y: HEIGHT - okHeight - errHeight, width: w,
        height: errHeight, class: "spark-failed" }));
      chart.append(svg("rect", { x, y: HEIGHT + 1, width: w, height: 3, class: "spark-failed" }));
    }
  }
  return chart;
}

/** Fill the queue table; `linkFor(queue, status)` gives each count's href. */
export function renderQueues(tbody, status, history, linkFor) {
  const byQueue = new Map((history ? history.queues : []).map((q) => [q.queue, q]));
  fill(tbody, status.queues.map((queue) => {
    const minutes = byQueue.get(queue.queue);
    return h("tr", { dataset: { queue: queue.queue } },
      h("th", { scope: "row" }, queue.label),
      COLUMNS.map((column) => h("td", { class: `num count-${column}` },
        h("a", { href: linkFor(queue.queue, column), dataset: { queue: queue.queue, status: column },
          "aria-label": `${number(queue[column])} ${column} in ${queue.label}` },
        number(queue[column])))),
      h("td", { class: "chart-col" },
        minutes ? sparkline(queue.label, minutes.complete, minutes.error) : ""),
    );
  }));
}

/** Placeholder rows while the first counts load. */
export function queueSkeleton(tbody) {
  fill(tbody, [0, 1, 2, 3].map(() => h("tr", { class: "skeleton-row", "aria-hidden": "true" },
    h("th", {}, h("span", { class: "skeleton" })),
    COLUMNS.map(() => h("td", { class: "num" }, h("span", { class: "skeleton short" }))),
    h("td", { class: "chart-col" }, h("span", { class: "skeleton" })))));
}
