/**
 * Deploy a configuration: every training setting of the platform's deployment request (what to
 * train and validate on, blockchain or classic coordination, rounds, epochs, batch, aggregation
 * strategy and its parameters, data matching, rewards, clients). A single or incremental training
 * (the kind) is trained by the platform on one datasource: the federated sections are hidden for
 * it, and an incremental one shows its stream settings. Checked as the user types with the
 * serializer's own limits; the backend's field errors (400) appear next to the fields they concern.
 * A successful deployment opens its training (`/trainings/<result id>`).
 */
import { useQueries } from '@tanstack/react-query'
import { useCallback, type FormEvent, type ReactNode } from 'react'
import { Link, useLocation, useSearch } from 'wouter'
import { type Configuration, type Datasource, type Schemas } from '../../../api/client'
import { configurationList } from '../../../api/lists'
import { combined } from '../../../api/query'
import { Field } from '../../../components/Field'
import { Page } from '../../../components/Page'
import { useSettingsForm } from '../../../components/useSettingsForm'
import { ErrorNotice, Guard } from '../../../components/States'
import '../../../styles/authoring.css'
import { createDeployment, datasourceList, strategyCatalogue } from '../api/deployments'
import {
  DEFAULTS,
  rangeText,
  RANGES,
  request,
  serverErrors,
  validate,
  visibleParameters,
  type Kind,
  type Strategy,
  type Values,
} from '../lib/rules'
import { ClientsEditor } from './ClientsEditor'
import { StrategyFields } from './StrategyFields'

type Choices = {
  configurations: Configuration[]
  datasources: Datasource[]
  strategies: Strategy[]
  policies: Schemas['PolicyOutput'][]
}

export default function DeploymentForm() {
  const loaded = useQueries({
    queries: [configurationList(), datasourceList(), strategyCatalogue()],
    combine: (results) =>
      combined(
        results,
        ([configurations, datasources, catalogue]): Choices => ({
          configurations: configurations.results,
          datasources: datasources.results,
          strategies: catalogue.strategies,
          policies: catalogue.reward_policies,
        }),
      ),
  })
  const search = useSearch()
  const preselected = new URLSearchParams(search).get('configuration') ?? ''
  return (
    <Page title="New deployment" actions={<Link href="/deployments">All deployments</Link>}>
      <Guard
        loaded={loaded}
        what="the configurations, datasources and strategies"
        empty={(choices) => choices.configurations.length === 0}
        emptyText={
          <p>
            There is nothing to deploy yet: <Link href="/configurations">create a configuration</Link> of your models
            first.
          </p>
        }
      >
        {(choices) => <Form choices={choices} preselected={preselected} />}
      </Guard>
    </Page>
  )
}

function datasourceLabel(datasource: Datasource): string {
  const about = datasource.description || datasource.topic
  return about ? `${datasource.datasource_id} — ${about}` : datasource.datasource_id
}

const KIND_HELP: Record<Kind, string> = {
  federated: 'Clients train on their own data; the platform combines their updates into global versions.',
  single: 'The platform trains each model itself on one datasource, epoch after epoch: no clients, no chain.',
  incremental: 'Like single, then it keeps training on the records that arrive on the datasource’s topic, window after window.',
}

type SetValue = <K extends keyof Values & string>(key: K, value: Values[K]) => void

/** An incremental training's stream settings: its windows, when it ends, and when a new version is served. */
function IncrementalFields({ values, errors, set, touch }: {
  values: Values
  errors: (key: string) => string[]
  set: SetValue
  touch: (key: string) => void
}) {
  const text = (key: 'window' | 'stream_timeout_s' | 'monitor_metric' | 'improvement', label: string, help: string,
    inputMode: 'numeric' | 'decimal' | 'text') => (
    <Field label={label} help={help} errors={errors(key)}>
      {(props) => (
        <input {...props} inputMode={inputMode} autoComplete="off" value={values[key]}
          onChange={(event) => set(key, event.target.value)} onBlur={() => touch(key)} />
      )}
    </Field>
  )
  return (
    <fieldset>
      <legend>Incremental training</legend>
      <div className="authoring-columns">
        {text('window', 'Window', `New records trained on at a time (${rangeText('window')}). Default ${DEFAULTS.window}.`, 'numeric')}
        {text('stream_timeout_s', 'Stream timeout (seconds)',
          `The training ends after this long without a new record (${rangeText('stream_timeout_s')}). Default ${DEFAULTS.stream_timeout_s}: it runs until you stop it.`, 'decimal')}
        {text('monitor_metric', 'Monitored metric',
          `The validation metric that decides whether a new version replaces the served one, such as val_loss or val_accuracy. Default ${DEFAULTS.monitor_metric}.`, 'text')}
        <Field label="Better when" errors={errors('monitor_mode')}
          help="Whether the monitored metric improves going down (a loss) or up (an accuracy).">
          {(props) => (
            <select {...props} value={values.monitor_mode}
              onChange={(event) => set('monitor_mode', event.target.value as Values['monitor_mode'])}>
              <option value="min">lower (min)</option>
              <option value="max">higher (max)</option>
            </select>
          )}
        </Field>
        {text('improvement', 'Required improvement',
          `How much better than the served version a new one must be to replace it (${rangeText('improvement')}). Default ${DEFAULTS.improvement}.`, 'decimal')}
      </div>
    </fieldset>
  )
}

function Form({ choices, preselected }: { choices: Choices; preselected: string }) {
  const [, navigate] = useLocation()
  const known = choices.configurations.some((item) => String(item.id) === preselected)
  const strategyOf = (name: string) => choices.strategies.find((item) => item.name === name)
  const { strategies } = choices
  const rules = useCallback(
    (values: Values) => validate(values, strategies.find((item) => item.name === values.strategy)),
    [strategies],
  )
  const form = useSettingsForm<Values>(() => ({
    ...DEFAULTS,
    configuration: known ? preselected : '',
    strategy: choices.strategies.some((item) => item.name === DEFAULTS.strategy)
      ? DEFAULTS.strategy
      : (choices.strategies[0]?.name ?? DEFAULTS.strategy),
  }), rules)
  const { values, setValues, errors, touch, forget, set } = form
  const strategy = strategyOf(values.strategy)

  const submit = (event: FormEvent) =>
    form.submit(
      event,
      async () => {
        const deployment = await createDeployment(request(values, strategy))
        const result = deployment.results[0]
        navigate(result === undefined ? '/deployments' : `/trainings/${result}`)
      },
      (error) => serverErrors(error, values, strategy ? visibleParameters(strategy, values.strategy_params).map((item) => item.name) : []),
    )

  const number = (key: 'rounds' | 'epochs' | 'batch' | 'min_data', label: string, help: ReactNode) => (
    <Field label={label} help={help} errors={errors(key)}>
      {(props) => (
        <input {...props} type="number" inputMode="numeric" step={1} min={String(RANGES[key][0])}
          max={String(RANGES[key][1])} value={values[key]} onChange={(event) => set(key, event.target.value)}
          onBlur={() => touch(key)} />
      )}
    </Field>
  )

  const json = (key: 'data_restriction' | 'fit_kwargs' | 'val_kwargs', label: string, help: ReactNode) => (
    <Field label={label} help={help} errors={errors(key)}>
      {(props) => (
        <textarea {...props} className="json" rows={2} spellCheck={false} value={values[key]}
          onChange={(event) => set(key, event.target.value)} onBlur={() => touch(key)} />
      )}
    </Field>
  )

  const federated = values.kind === 'federated'
  const policy = choices.policies.find((item) => item.name === values.reward_policy)

  return (
    <form className="authoring-form" onSubmit={submit} noValidate aria-label="Deployment settings">
      {form.attention && (
        <div className="state error" role="alert">
          Some settings need attention: see the messages next to them.
        </div>
      )}
      <fieldset>
        <legend>What to train</legend>
        <div className="authoring-columns">
          <Field label="Kind of training" errors={errors('kind')} help={KIND_HELP[values.kind]}>
            {(props) => (
              <select {...props} value={values.kind} onChange={(event) => set('kind', event.target.value as Kind)}>
                <option value="federated">federated</option>
                <option value="single">single</option>
                <option value="incremental">incremental</option>
              </select>
            )}
          </Field>
          <Field label="Configuration" errors={errors('configuration')}
            help="The models to train: one training per model of the configuration.">
            {(props) => (
              <select {...props} value={values.configuration} onChange={(event) => set('configuration', event.target.value)}
                onBlur={() => touch('configuration')}>
                <option value="">Choose a configuration…</option>
                {choices.configurations.map((item) => (
                  <option key={item.id} value={item.id}>
                    {item.name} ({item.ml_models.length} model{item.ml_models.length === 1 ? '' : 's'})
                  </option>
                ))}
              </select>
            )}
          </Field>
          <Field label={federated ? 'Validation datasource' : 'Datasource to train on'} errors={errors('validation_datasource')}
            help={!choices.datasources.length
              ? <>No datasource is registered yet: see <Link href="/datasources">Datasources</Link>.</>
              : federated
                ? 'The platform measures every new global version on this data (and pays for improvements on it).'
                : 'The platform trains on its training split, reports each epoch on its validation split and measures the final model on its test split.'}>
            {(props) => (
              <select {...props} value={values.validation_datasource}
                onChange={(event) => set('validation_datasource', event.target.value)}
                onBlur={() => touch('validation_datasource')}>
                <option value="">Choose a datasource…</option>
                {choices.datasources.map((item) => (
                  <option key={item.id} value={item.id}>
                    {datasourceLabel(item)}
                  </option>
                ))}
              </select>
            )}
          </Field>
          {federated && <Field label="Coordination" errors={errors('coordination')}
            help={values.coordination === 'blockchain'
              ? 'A training contract records every version and pays clients in tokens; clients are 0x addresses.'
              : 'No chain: the platform coordinates alone; clients are client ids and earn no tokens on chain.'}>
            {(props) => (
              <select {...props} value={values.coordination}
                onChange={(event) => {
                  set('coordination', event.target.value as Values['coordination'])
                  forget('clients')
                }}>
                <option value="blockchain">blockchain</option>
                <option value="classic">classic</option>
              </select>
            )}
          </Field>}
        </div>
      </fieldset>

      <fieldset>
        <legend>Training</legend>
        <div className="authoring-columns">
          {federated && number('rounds', 'Rounds', `New global versions to make (${rangeText('rounds')}). Default ${DEFAULTS.rounds}.`)}
          {number('epochs', 'Epochs', federated
            ? `Local epochs per client update (${rangeText('epochs')}). Default ${DEFAULTS.epochs}.`
            : `Passes over the training split; each epoch is reported as a version (${rangeText('epochs')}). Default ${DEFAULTS.epochs}.`)}
          {number('batch', 'Batch size', `${federated ? 'Local training' : 'Training'} batch size (${rangeText('batch')}). Default ${DEFAULTS.batch}.`)}
        </div>
        <div className="authoring-columns">
          {json('fit_kwargs', 'Fit arguments (JSON)',
            <>Extra keyword arguments for {federated ? <>the clients&apos; </> : null}<code>model.fit</code>, e.g. <code>{'{"shuffle": true}'}</code>. Default none.</>)}
          {json('val_kwargs', 'Validation arguments (JSON)',
            <>Extra keyword arguments for <code>model.evaluate</code> on the validation data. Default none.</>)}
        </div>
      </fieldset>

      {values.kind === 'incremental' && <IncrementalFields values={values} errors={errors} set={set} touch={touch} />}

      {federated && (
        <>
          <fieldset>
            <legend>Data matching</legend>
            <div className="authoring-columns">
              {number('min_data', 'Minimum data', `Training samples a client’s datasource must hold to join. Default ${DEFAULTS.min_data} (any).`)}
              {json('data_restriction', 'Data restriction (JSON)',
                <>A JSON object a client&apos;s datasource restrictions must equal exactly to join, e.g.{' '}
                  <code>{'{"region": "eu"}'}</code>. Default <code>{'{}'}</code> (none).</>)}
            </div>
          </fieldset>

          <StrategyFields
            strategies={choices.strategies}
            strategy={values.strategy}
            params={values.strategy_params}
            errors={errors}
            onStrategy={(name) => {
              setValues((was) => ({ ...was, strategy: name, strategy_params: {} }))
              touch('strategy')
              forget('strategy', 'strategy_params')
            }}
            onParam={(name, value) => {
              setValues((was) => ({ ...was, strategy_params: { ...was.strategy_params, [name]: value } }))
              touch(`strategy_params.${name}`)
              forget(`strategy_params.${name}`)
              forget('strategy_params')
            }}
            onBlur={touch}
          />

          <fieldset>
            <legend>Rewards</legend>
            <div className="authoring-columns">
              <Field label="Reward policy" errors={errors('reward_policy')} help={policy?.description}>
                {(props) => (
                  <select {...props} value={values.reward_policy} onChange={(event) => set('reward_policy', event.target.value)}>
                    {choices.policies.map((item) => (
                      <option key={item.name} value={item.name}>
                        {item.name}
                      </option>
                    ))}
                  </select>
                )}
              </Field>
              <Field label="Reward base" errors={errors('reward_base')}
                help={`Tokens for a full improvement by a whole round's data (up to 18 decimals). Default ${DEFAULTS.reward_base}.`}>
                {(props) => (
                  <input {...props} inputMode="decimal" autoComplete="off" value={values.reward_base}
                    onChange={(event) => set('reward_base', event.target.value)} onBlur={() => touch('reward_base')} />
                )}
              </Field>
              <Field label="Reward budget" errors={errors('reward_budget')}
                help="Tokens: the most the training may ever pay, fixed on chain when it starts. Empty: reward base × rounds.">
                {(props) => (
                  <input {...props} inputMode="decimal" autoComplete="off" value={values.reward_budget}
                    placeholder="reward base × rounds"
                    onChange={(event) => set('reward_budget', event.target.value)} onBlur={() => touch('reward_budget')} />
                )}
              </Field>
              <Field label="Reject ratio" errors={errors('reject_ratio')}
                help={`An update that raises the validation loss by more than this factor (new / old) is rejected and earns nothing (${rangeText('reject_ratio')}). Default ${DEFAULTS.reject_ratio}.`}>
                {(props) => (
                  <input {...props} inputMode="decimal" autoComplete="off" value={values.reject_ratio}
                    onChange={(event) => set('reject_ratio', event.target.value)} onBlur={() => touch('reject_ratio')} />
                )}
              </Field>
              <Field label="Exclude after" errors={errors('exclude_after')}
                help={`A client whose updates were rejected this many times is excluded: its later updates are rejected unread (${rangeText('exclude_after')}). Default ${DEFAULTS.exclude_after}: never.`}>
                {(props) => (
                  <input {...props} inputMode="numeric" autoComplete="off" value={values.exclude_after}
                    onChange={(event) => set('exclude_after', event.target.value)} onBlur={() => touch('exclude_after')} />
                )}
              </Field>
              <Field label="Sample weighting" errors={errors('sample_weighting')}
                help={values.sample_weighting === 'capped'
                  ? 'capped (default): an update weighs by its reported samples, capped to the client’s sample ceiling.'
                  : 'equal: every update weighs alike, whatever samples it reports.'}>
                {(props) => (
                  <select {...props} value={values.sample_weighting}
                    onChange={(event) => set('sample_weighting', event.target.value)}>
                    <option value="capped">capped</option>
                    <option value="equal">equal</option>
                  </select>
                )}
              </Field>
            </div>
          </fieldset>

          <ClientsEditor
            clients={values.clients}
            coordination={values.coordination}
            errors={errors}
            onChange={(clients) => {
              setValues((was) => ({ ...was, clients }))
              forget('clients')
            }}
            onTouch={touch}
          />
        </>
      )}

      {form.failure && <ErrorNotice error={form.failure} />}
      <div className="actions">
        <button type="submit" className="primary" disabled={form.busy}>
          Deploy
        </button>
        {form.busy && <span role="status">Starting the training…</span>}
      </div>
    </form>
  )
}
