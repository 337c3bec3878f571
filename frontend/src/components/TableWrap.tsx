/**
 * The horizontally scrolling frame around a table (`.table-wrap`), reachable by keyboard so that a
 * table wider than a phone can be scrolled without a mouse; named after its table.
 */
import type { ReactNode } from 'react'

export function TableWrap({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="table-wrap" tabIndex={0} role="group" aria-label={label}>
      {children}
    </div>
  )
}
