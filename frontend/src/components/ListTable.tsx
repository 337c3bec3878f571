/**
 * The table of a list page: one row per item, its columns declared once, in the keyboard-scrollable
 * frame of every table, and a note when the API holds more items than it returned.
 */
import type { ReactNode } from 'react'
import { TableWrap } from './TableWrap'

export type Column<T> = {
  header: string
  cell: (row: T) => ReactNode
  /** Right-aligned numbers (header and cells). */
  num?: boolean
  /** Monospaced cells (shapes, identifiers). */
  mono?: boolean
  /** The cell that names the row (`<th scope="row">`). */
  rowHeader?: boolean
}

export function ListTable<T>({
  label,
  caption,
  columns,
  rows,
  rowKey,
  rowId,
  total,
  noun,
}: {
  /** The table's name (its frame's too). */
  label: string
  /** A longer description for screen readers; without it the table is named by `label`. */
  caption?: string
  columns: Column<T>[]
  rows: T[]
  rowKey: (row: T) => string | number
  /** An anchor for a row (links to one item of the list). */
  rowId?: (row: T) => string
  /** How many items the API holds, when it may hold more than `rows`; with `noun` ("models"). */
  total?: number
  noun?: string
}) {
  return (
    <>
      <TableWrap label={label}>
        <table aria-label={caption ? undefined : label}>
          {caption && <caption className="sr-only">{caption}</caption>}
          <thead>
            <tr>
              {columns.map((column) => (
                <th key={column.header} scope="col" className={column.num ? 'num' : undefined}>
                  {column.header}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <tr key={rowKey(row)} id={rowId?.(row)}>
                {columns.map((column) => {
                  const className = [column.num && 'num', column.mono && 'mono'].filter(Boolean).join(' ') || undefined
                  return column.rowHeader ? (
                    <th key={column.header} scope="row" className={className}>
                      {column.cell(row)}
                    </th>
                  ) : (
                    <td key={column.header} className={className}>
                      {column.cell(row)}
                    </td>
                  )
                })}
              </tr>
            ))}
          </tbody>
        </table>
      </TableWrap>
      {total !== undefined && total > rows.length && (
        <p className="help">
          Showing the first {rows.length} of {total} {noun}.
        </p>
      )}
    </>
  )
}
