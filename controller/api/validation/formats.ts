// String formats as the apiserver checks them (kube-openapi's strfmt registry, which is built on
// Go's parsers), written as JavaScript predicates. A format the apiserver does not know is not
// checked there, so it is not checked here either.
import { isIPv4, isIPv6 } from "node:net";

function isValidCalendarDate(year: number, month: number, day: number): boolean {
  const d = new Date(Date.UTC(year, month - 1, day));
  return d.getUTCFullYear() === year && d.getUTCMonth() === month - 1 && d.getUTCDate() === day;
}

const dateRe = /^(\d{4})-(\d{2})-(\d{2})$/;
// strfmt.ParseDateTime accepts RFC 3339 with or without fractional seconds and zone colon,
// plus local times and minute precision (ISO 8601 reduced precision).
const dateTimeRe =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:[Zz]|[+-]\d{2}:?\d{2})?$/;
const uuidRe = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const uuidVersionRe = (v: number) =>
  new RegExp(
    `^[0-9a-f]{8}-[0-9a-f]{4}-${String(v)}[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`,
    "i",
  );
const hostnameRe =
  /^(?=.{1,255}$)[A-Za-z0-9](?:[-A-Za-z0-9]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*\.?$/;
const emailRe = /^[^\s@<>()[\]\\,;:"]+@[^\s@<>()[\]\\,;:"]+$/;
const base64Re = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const macRe =
  /^(?:[0-9a-f]{2}(?:[:-][0-9a-f]{2}){5}|[0-9a-f]{2}(?:[:-][0-9a-f]{2}){7}|[0-9a-f]{2}(?:[:-][0-9a-f]{2}){19}|[0-9a-f]{4}(?:\.[0-9a-f]{4}){2})$/i;
const durationRe =
  /^(?:[-+]?(?:\d+(?:\.\d*)?|\.\d+)\s*(?:ns|us|µs|ms|s|m|h|d|w|seconds?|minutes?|hours?|days?|weeks?)\s*)+$/;
const hexColorRe = /^#?([0-9a-f]{3}|[0-9a-f]{6})$/i;
const rgbColorRe = /^rgb\(\s*\d{1,3}\s*,\s*\d{1,3}\s*,\s*\d{1,3}\s*\)$/;
const bsonObjectIdRe = /^[0-9a-f]{24}$/i;

function isCidr(value: string): boolean {
  const slash = value.lastIndexOf("/");
  if (slash < 0) return false;
  const ip = value.slice(0, slash);
  const bits = value.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bits)) return false;
  const n = Number(bits);
  if (isIPv4(ip)) return n <= 32;
  if (isIPv6(ip)) return n <= 128;
  return false;
}

/** Go's url.Parse rejects little: control characters and broken percent escapes. */
function isGoParsableUri(value: string): boolean {
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(value)) return false;
  return !/%(?![0-9A-Fa-f]{2})/.test(value);
}

/** Format name → predicate, for the formats the apiserver validates on custom resources. */
export const kubernetesStringFormats: Readonly<Record<string, (value: string) => boolean>> = {
  date: (v) => {
    const m = dateRe.exec(v);
    return m !== null && isValidCalendarDate(Number(m[1]), Number(m[2]), Number(m[3]));
  },
  "date-time": (v) => {
    const m = dateTimeRe.exec(v);
    return m !== null && isValidCalendarDate(Number(m[1]), Number(m[2]), Number(m[3]));
  },
  datetime: (v) => kubernetesStringFormats["date-time"]?.(v) ?? false,
  uuid: (v) => uuidRe.test(v),
  uuid3: (v) => uuidVersionRe(3).test(v),
  uuid4: (v) => uuidVersionRe(4).test(v),
  uuid5: (v) => uuidVersionRe(5).test(v),
  hostname: (v) => hostnameRe.test(v),
  email: (v) => emailRe.test(v),
  ipv4: (v) => isIPv4(v),
  ipv6: (v) => isIPv6(v),
  cidr: isCidr,
  mac: (v) => macRe.test(v),
  uri: isGoParsableUri,
  byte: (v) => base64Re.test(v),
  duration: (v) => durationRe.test(v.trim()),
  hexcolor: (v) => hexColorRe.test(v),
  rgbcolor: (v) => rgbColorRe.test(v),
  bsonobjectid: (v) => bsonObjectIdRe.test(v),
  password: () => true,
};
