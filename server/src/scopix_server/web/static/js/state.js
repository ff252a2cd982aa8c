// What the views share: the signed-in tenant (GET /tenant) and the gallery's filters.

export const session = { tenant: null };

export const filters = {
  search: "",
  media_types: "",
  tags: "",
  status: "",
  date_from: "",
  date_to: "",
};

/**
 * How long a view waits between status polls: `base`, or longer where the key's tier allows few
 * requests a minute, so that polling takes at most a quarter of them (the rest stay for the user).
 */
export function pollDelay(base) {
  const perMinute = session.tenant?.limits?.requests_per_minute;
  return perMinute ? Math.max(base, Math.ceil((4 * 60_000) / perMinute)) : base;
}
