/**
 * A CodeMirror 6 editor for a model's Python source, with the builder's error shown on its line:
 * the line gets the class `cm-error-line` and the message appears right below it (a block widget),
 * following the line while the user edits around it.
 */
import { history, historyKeymap, indentWithTab, selectAll, standardKeymap } from '@codemirror/commands'
import { defaultHighlightStyle, indentUnit, StreamLanguage, syntaxHighlighting } from '@codemirror/language'
import { python } from '@codemirror/legacy-modes/mode/python'
import { EditorState, StateEffect, StateField, type Extension } from '@codemirror/state'
import {
  Decoration,
  EditorView,
  keymap,
  lineNumbers,
  WidgetType,
  type DecorationSet,
} from '@codemirror/view'
import { useEffect, useRef } from 'react'

export type SourceError = { line: number; message: string }

const setError = StateEffect.define<SourceError | null>()

class ErrorMessage extends WidgetType {
  constructor(readonly message: string) {
    super()
  }
  eq(other: ErrorMessage) {
    return other.message === this.message
  }
  toDOM() {
    const element = document.createElement('div')
    element.className = 'cm-error-message'
    element.textContent = this.message
    return element
  }
}

function decorate(state: EditorState, error: SourceError | null): DecorationSet {
  if (!error) return Decoration.none
  const line = state.doc.line(Math.min(Math.max(1, error.line), state.doc.lines))
  return Decoration.set([
    Decoration.line({ class: 'cm-error-line' }).range(line.from),
    Decoration.widget({ widget: new ErrorMessage(error.message), block: true, side: 1 }).range(line.to),
  ])
}

/** The error's decorations: replaced by `setError`, otherwise mapped through the user's edits. */
const errorField = StateField.define<DecorationSet>({
  create: () => Decoration.none,
  update(decorations, transaction) {
    for (const effect of transaction.effects) {
      if (effect.is(setError)) return decorate(transaction.state, effect.value)
    }
    return decorations.map(transaction.changes)
  },
  provide: (field) => EditorView.decorations.from(field),
})

const theme = EditorView.baseTheme({
  '.cm-error-message': {
    color: '#b42318',
    background: '#ffebe9',
    borderLeft: '3px solid #b42318',
    padding: '0.2rem 0.5rem',
    fontFamily: 'system-ui, sans-serif',
    whiteSpace: 'pre-wrap',
  },
  '.cm-content': { fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace' },
})

function extensions(label: string, describedBy: string | undefined, onChange: (text: string) => void): Extension[] {
  return [
    lineNumbers(),
    history(),
    // CodeMirror's own Python mode (highlighting and indentation), the stream-parser port: a third of
    // @codemirror/lang-python's weight (its Lezer grammar and autocompletion), which the bundle budget
    // of the app (benchmarks/ui.py) cannot afford beside the charts.
    StreamLanguage.define(python),
    indentUnit.of('    '),
    syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
    keymap.of([...standardKeymap, ...historyKeymap, { key: 'Mod-a', run: selectAll }, indentWithTab]),
    errorField,
    theme,
    EditorView.contentAttributes.of({ 'aria-label': label, ...(describedBy ? { 'aria-describedby': describedBy } : {}) }),
    EditorView.updateListener.of((update) => {
      if (update.docChanged) onChange(update.state.doc.toString())
    }),
  ]
}

export function SourceEditor({
  initial,
  onChange,
  error,
  label = 'Model source',
  describedBy,
}: {
  /** The text the editor starts with (later changes of this prop are ignored: the editor owns the text). */
  initial: string
  onChange: (text: string) => void
  error: SourceError | null
  label?: string
  describedBy?: string
}) {
  const host = useRef<HTMLDivElement>(null)
  const view = useRef<EditorView | null>(null)
  const changed = useRef(onChange)
  changed.current = onChange

  useEffect(() => {
    const editor = new EditorView({
      parent: host.current!,
      state: EditorState.create({
        doc: initial,
        extensions: extensions(label, describedBy, (text) => changed.current(text)),
      }),
    })
    view.current = editor
    return () => {
      editor.destroy()
      view.current = null
    }
    // The editor is created once; its text is its own from then on.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [])

  useEffect(() => {
    view.current?.dispatch({ effects: setError.of(error) })
  }, [error])

  return <div className="editor" ref={host} />
}
