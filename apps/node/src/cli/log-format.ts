// Turns a node's pino JSON line into one short human line for `cluster up`.
const LEVELS: Record<number, [string, string]> = {
  10: ['TRACE', '\u001b[90m'],
  20: ['DEBUG', '\u001b[90m'],
  30: ['INFO ', '\u001b[32m'],
  40: ['WARN ', '\u001b[33m'],
  50: ['ERROR', '\u001b[31m'],
  60: ['FATAL', '\u001b[41m'],
};
const HIDDEN = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'node', 'v']);

export function formatLogLine(line: string, color: boolean): string {
  let record: unknown;
  try {
    record = JSON.parse(line);
  } catch {
    return line;
  }
  if (typeof record !== 'object' || record === null) return line;
  const fieldsOf = record as Record<string, unknown>;
  const [name, tint] = LEVELS[Number(fieldsOf.level)] ?? ['LOG  ', ''];
  const time =
    typeof fieldsOf.time === 'number' ? new Date(fieldsOf.time).toISOString().slice(11, 23) : '';
  const fields = Object.entries(fieldsOf)
    .filter(([key]) => !HIDDEN.has(key))
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join(' ');
  const level = color ? `${tint}${name}\u001b[0m` : name;
  return `${time} ${level} ${typeof fieldsOf.msg === 'string' ? fieldsOf.msg : ''}${fields === '' ? '' : ` ${fields}`}`;
}
