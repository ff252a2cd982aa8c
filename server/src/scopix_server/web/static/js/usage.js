// Quota and usage: the tier's limits, this month's uploads against the monthly quota, and
// what the library holds.

import { call } from "./api.js";
import { formatBytes, h, replace } from "./dom.js";
import { session } from "./state.js";

const UNLIMITED = 2 ** 31 - 1;

function limit(value, unit = "") {
  return value === null || value === undefined ? "no limit" : `${value.toLocaleString()}${unit}`;
}

export async function showUsage(main, signal) {
  document.title = "Usage · Scopix console";
  let tenant;
  let quota;
  try {
    [tenant, quota] = await Promise.all([
      call("GET", "/tenant", { signal }),
      call("GET", "/uploads/quota-check", { query: { file_count: 1 }, signal }),
    ]);
  } catch (error) {
    if (error.name !== "AbortError") replace(main, h("p", { class: "error", role: "alert" }, error.message));
    return;
  }
  session.tenant = tenant;
  const capped = quota.monthly_limit !== UNLIMITED;
  const used = tenant.usage.uploads_this_month;
  const meter = capped
    ? [
        h("label", { for: "quota-meter" }, `Uploads this month: ${used.toLocaleString()} of ${quota.monthly_limit.toLocaleString()}`),
        h("meter", { id: "quota-meter", min: 0, max: quota.monthly_limit, value: used, low: quota.monthly_limit * 0.8, high: quota.monthly_limit * 0.95, optimum: 0 }),
      ]
    : [h("p", {}, `Uploads this month: ${used.toLocaleString()} (no monthly limit).`)];
  replace(
    main,
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "#/" }, "Library"), " / ", h("span", { "aria-current": "page" }, "Usage")),
    h("h1", {}, "Quota and usage"),
    h(
      "section",
      { class: "card usage", "aria-labelledby": "quota-title", id: "quota" },
      h("h2", { id: "quota-title" }, `${tenant.name} · ${tenant.subscription_tier} tier`),
      ...meter,
      h("p", { id: "quota-message" }, quota.message || ""),
      h(
        "dl",
        { class: "meta" },
        h("dt", {}, "Files in the library"),
        h("dd", { id: "usage-files" }, tenant.usage.files.toLocaleString()),
        h("dt", {}, "Stored (originals)"),
        h("dd", {}, formatBytes(tenant.usage.bytes_stored)),
        h("dt", {}, "Requests per minute"),
        h("dd", {}, limit(tenant.limits.requests_per_minute)),
        h("dt", {}, "Uploads at once"),
        h("dd", {}, limit(tenant.limits.concurrent_uploads)),
        h("dt", {}, "Files per batch"),
        h("dd", {}, limit(tenant.limits.max_batch_size)),
        h("dt", {}, "Monthly uploads"),
        h("dd", {}, limit(tenant.limits.monthly_uploads)),
        h("dt", {}, "Period"),
        h("dd", {}, `${tenant.usage.period} (UTC; the quota resets on the 1st)`),
      ),
    ),
  );
}
