/**
 * AMQP topic matching (`*` one word, `#` zero or more words), used to decide
 * which event types a named queue's bindings already cover.
 */
export function topicMatches(pattern: string, routingKey: string): boolean {
  return match(pattern.split('.'), 0, routingKey.split('.'), 0);
}

function match(p: string[], i: number, k: string[], j: number): boolean {
  if (i === p.length) return j === k.length;
  const word = p[i];
  if (word === '#') {
    for (let skip = j; skip <= k.length; skip++) if (match(p, i + 1, k, skip)) return true;
    return false;
  }
  if (j === k.length) return false;
  return (word === '*' || word === k[j]) && match(p, i + 1, k, j + 1);
}

/**
 * Whether a binding delivers events of `type` to its queue: it matches the type
 * itself or the type with a routing suffix (`<type>.critical`).
 */
export function bindingCoversType(binding: string, type: string): boolean {
  if (binding === type || binding.startsWith(`${type}.`)) return true;
  return topicMatches(binding, type) || topicMatches(binding, `${type}.x`);
}
