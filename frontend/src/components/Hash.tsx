/** A hash or address shortened in a table, whole in its title and for screen readers; optionally a link. */
import { short } from '../lib/format'

export function Hash({ value, href, keep = 8 }: { value: string | null | undefined; href?: string | null; keep?: number }) {
  if (!value) return <span>–</span>
  const text = short(value, keep)
  const body = (
    <code className="hash" title={value}>
      <span aria-hidden="true">{text}</span>
      <span className="sr-only">{value}</span>
    </code>
  )
  return href ? (
    <a href={href} target="_blank" rel="noreferrer">
      {body}
      <span className="sr-only"> (opens the block explorer)</span>
    </a>
  ) : (
    body
  )
}
