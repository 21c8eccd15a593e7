// What the page shows, kept in its URL: /dashboard[/jobs/<id>]?user=&queue=&type=&status=&q=
// so a view can be shared, survives a reload, and the back button steps through changes.

export const FILTERS = ["user", "queue", "type", "status", "q", "system"];

export function readState(location = window.location) {
  const params = new URLSearchParams(location.search);
  const match = /^\/dashboard\/jobs\/([^/]+)\/?$/.exec(location.pathname);
  const state = { job: match ? decodeURIComponent(match[1]) : null };
  for (const key of FILTERS) state[key] = params.get(key) || "";
  return state;
}

export function urlFor(state) {
  const params = new URLSearchParams();
  for (const key of FILTERS) if (state[key]) params.set(key, state[key]);
  const path = state.job ? `/dashboard/jobs/${encodeURIComponent(state.job)}` : "/dashboard";
  const query = params.toString();
  return query ? `${path}?${query}` : path;
}

/** The scope part of an API query: whose jobs, and system jobs or not. */
export function scopeParams(state) {
  const params = new URLSearchParams();
  if (state.user) params.set("user_id", state.user);
  if (state.system && !state.user) params.set("include_system", "true");
  return params;
}

/** The query of `GET /jobs` (and the body of the bulk actions) for this view. */
export function jobFilter(state) {
  const filter = {};
  if (state.user) filter.user_id = Number(state.user);
  if (state.system && !state.user) filter.include_system = true;
  for (const key of ["queue", "type", "status", "q"]) if (state[key]) filter[key] = state[key];
  return filter;
}

export function jobsQuery(state, cursor) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(jobFilter(state))) params.set(key, String(value));
  params.set("limit", "25");
  if (cursor) params.set("cursor", cursor);
  return params;
}

export function hasFilters(state) {
  return Boolean(state.queue || state.type || state.status || state.q);
}
