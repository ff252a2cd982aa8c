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
 * How long a poller waits between status polls: `base`, or longer where the key's tier allows
 * few requests a minute, so that each poller takes at most an eighth of them (the gallery's and
 * the upload queue's together a quarter; the rest stay for the user).
 */
export function pollDelay(base) {
  const perMinute = session.tenant?.limits?.requests_per_minute;
  return perMinute ? Math.max(base, Math.ceil((8 * 60_000) / perMinute)) : base;
}
