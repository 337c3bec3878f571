/**
 * Python highlighting and indentation for the model editor, as a small CodeMirror stream parser.
 *
 * `@codemirror/lang-python` (a full Lezer grammar) adds about 25 KB gzipped to the editor; a model
 * file needs only keywords, strings, numbers, comments, decorators and names highlighted, and a new
 * line indented after `:` or an open bracket, which this does in a fraction of that.
 */
import { indentService, indentUnit, StreamLanguage, type StringStream } from '@codemirror/language'
import type { Extension } from '@codemirror/state'

const KEYWORDS = new Set(
  ('and as assert async await break class continue def del elif else except finally for from global if import in ' +
    'is lambda nonlocal not or pass raise return try while with yield match case').split(' '),
)
const CONSTANTS = new Set(['True', 'False', 'None', 'Ellipsis', 'NotImplemented'])
const BUILTINS = new Set(
  ('abs all any bool dict enumerate float getattr hasattr int isinstance len list max min print range round set ' +
    'sorted str sum super tuple type zip').split(' '),
)

type State = { quote: string | null; defining: boolean }

const STRING_START = /^([rRbBuUfF]{1,2})?("""|'''|"|')/
const NUMBER = /^(0[xXoObB][0-9a-fA-F_]+|(\d[\d_]*\.?[\d_]*|\.\d[\d_]*)([eE][+-]?\d+)?[jJ]?)/

/** Read a string body up to its closing quote; a triple-quoted one may continue on the next lines. */
function stringBody(stream: StringStream, state: State): string {
  const quote = state.quote!
  while (!stream.eol()) {
    if (stream.match(quote)) {
      state.quote = null
      return 'string'
    }
    if (stream.next() === '\\') stream.next()
  }
  if (quote.length === 1) state.quote = null // an unterminated one-line string ends with its line
  return 'string'
}

const parser = {
  name: 'python',
  startState: (): State => ({ quote: null, defining: false }),
  token(stream: StringStream, state: State): string | null {
    if (state.quote) return stringBody(stream, state)
    if (stream.eatSpace()) return null
    if (stream.peek() === '#') {
      stream.skipToEnd()
      return 'comment'
    }
    const opened = stream.match(STRING_START) as RegExpMatchArray | null
    if (opened) {
      state.quote = opened[2] ?? '"'
      return stringBody(stream, state)
    }
    if (stream.match(NUMBER)) return 'number'
    if (stream.match(/^@[A-Za-z_][\w.]*/)) return 'meta'
    const word = stream.match(/^[A-Za-z_]\w*/) as RegExpMatchArray | null
    if (word) {
      const name = word[0]
      if (state.defining) {
        state.defining = false
        return 'def'
      }
      if (KEYWORDS.has(name)) {
        state.defining = name === 'def' || name === 'class'
        return 'keyword'
      }
      if (CONSTANTS.has(name)) return 'atom'
      if (BUILTINS.has(name)) return 'builtin'
      return 'variable'
    }
    if (stream.match(/^[+\-*/%&|^~<>=!]+/)) return 'operator'
    stream.next()
    return null
  },
  languageData: { commentTokens: { line: '#' } },
}

/** A new line is indented like the previous one, one unit more after `:` or an open bracket. */
const indentation = indentService.of((context, pos) => {
  const line = context.state.doc.lineAt(pos)
  if (line.number === 1) return 0
  const previous = context.state.doc.line(line.number - 1).text
  const base = /^\s*/.exec(previous)![0].replace(/\t/g, ' '.repeat(context.unit)).length
  const code = previous.replace(/#.*$/, '').trimEnd()
  return /[:([{]$/.test(code) ? base + context.unit : base
})

export function python(): Extension {
  return [StreamLanguage.define(parser), indentation, indentUnit.of('    ')]
}
