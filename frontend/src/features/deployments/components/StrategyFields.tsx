/** The aggregation strategy and its parameters, each explained with its default (from GET /api/strategies/). */
import { Field } from '../../../components/Field'
import { visibleParameters, type Strategy, type StrategyParameter } from '../lib/rules'

type Props = {
  strategies: Strategy[]
  strategy: string
  params: Record<string, string>
  errors: (key: string) => string[]
  onStrategy: (name: string) => void
  onParam: (name: string, value: string) => void
  onBlur: (key: string) => void
}

function defaultText(parameter: StrategyParameter): string {
  return String(parameter.default)
}

function ParameterField({ parameter, value, errors, onChange, onBlur }: {
  parameter: StrategyParameter
  value: string
  errors: string[]
  onChange: (value: string) => void
  onBlur: () => void
}) {
  const help = (
    <>
      {parameter.description} Default: <code>{defaultText(parameter)}</code>
      {parameter.value_type !== 'choice' && ' (leave empty to use it)'}.
    </>
  )
  return (
    <Field label={parameter.name} help={help} errors={errors}>
      {(props) =>
        parameter.value_type === 'choice' ? (
          <select {...props} value={value || defaultText(parameter)} onChange={(event) => onChange(event.target.value)}
            onBlur={onBlur}>
            {parameter.choices.map((choice) => (
              <option key={choice} value={choice}>
                {choice}
              </option>
            ))}
          </select>
        ) : (
          <input {...props} type="text" inputMode={parameter.value_type === 'integer' ? 'numeric' : 'decimal'}
            autoComplete="off" placeholder={defaultText(parameter)} value={value}
            onChange={(event) => onChange(event.target.value)} onBlur={onBlur} />
        )
      }
    </Field>
  )
}

export function StrategyFields({ strategies, strategy, params, errors, onStrategy, onParam, onBlur }: Props) {
  const chosen = strategies.find((item) => item.name === strategy)
  const shown = chosen ? visibleParameters(chosen, params) : []
  const groupErrors = errors('strategy_params')
  return (
    <fieldset>
      <legend>Aggregation</legend>
      <Field
        label="Strategy"
        errors={errors('strategy')}
        help={
          chosen && (
            <>
              {chosen.description} {chosen.updates_per_round === 1
                ? 'One update per new global version.'
                : `${chosen.updates_per_round} updates per new global version by default.`}
            </>
          )
        }
      >
        {(props) => (
          <select {...props} value={strategy} onChange={(event) => onStrategy(event.target.value)}
            onBlur={() => onBlur('strategy')}>
            {strategies.map((item) => (
              <option key={item.name} value={item.name}>
                {item.name}
              </option>
            ))}
          </select>
        )}
      </Field>
      <div role="group" aria-labelledby="parameters-title" className="parameters">
        <p id="parameters-title" className="field-label">
          Parameters of {strategy}
        </p>
        {shown.length === 0 && <p className="help">This strategy has no parameters.</p>}
        <div className="authoring-columns">
          {shown.map((parameter) => (
            <ParameterField
              key={`${strategy}-${parameter.name}`}
              parameter={parameter}
              value={params[parameter.name] ?? ''}
              errors={errors(`strategy_params.${parameter.name}`)}
              onChange={(value) => onParam(parameter.name, value)}
              onBlur={() => onBlur(`strategy_params.${parameter.name}`)}
            />
          ))}
        </div>
        {groupErrors.length > 0 && (
          <ul className="field-errors" role="alert">
            {groupErrors.map((message) => (
              <li key={message}>{message}</li>
            ))}
          </ul>
        )}
      </div>
    </fieldset>
  )
}
