/** MicroTime: RFC 3339 with microseconds, the format of Event.eventTime and Lease times. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}
