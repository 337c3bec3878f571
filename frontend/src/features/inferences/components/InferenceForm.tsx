/**
 * Deploy a finished training's model for inference: its input (RAW or Avro, and what one sample
 * is), its topics, replicas and batch. Checked as the user types with the API's limits; the
 * backend's field errors (400) appear next to their fields, and a refusal of the whole request
 * (409: the training has no final model; 429: your replicas quota) above the button. A deployed
 * inference opens its page.
 */
import { useQuery } from '@tanstack/react-query'
import type { FormEvent } from 'react'
import { Link, useLocation, useSearch } from 'wouter'
import { Field } from '../../../components/Field'
import { Page } from '../../../components/Page'
import { useSettingsForm } from '../../../components/useSettingsForm'
import { ErrorNotice, Guard } from '../../../components/States'
import '../../../styles/authoring.css'
import { createInference, finishedResults } from '../api/inferences'
import { DEFAULTS, EXAMPLES, RANGES, request, serverErrors, validate, type Format, type Values } from '../lib/rules'

type Choice = { id: number; label: string }

export default function InferenceForm() {
  const results = useQuery(finishedResults())
  const preselected = new URLSearchParams(useSearch()).get('result') ?? ''
  return (
    <Page title="Deploy for inference" actions={<Link href="/inferences">All inferences</Link>}>
      <Guard
        loaded={{ ...results, data: results.data?.results.filter((result) => result.model_sha256) }}
        what="your finished trainings"
        empty={(finished) => finished.length === 0}
        emptyText={<p>No training has finished with a final model yet: see <Link href="/trainings">Trainings</Link>.</p>}
      >
        {(finished) => (
          <Form
            choices={finished.map((result) => ({ id: result.id, label: `${result.model_name} · training ${result.id}` }))}
            preselected={finished.some((result) => String(result.id) === preselected) ? preselected : ''}
          />
        )}
      </Guard>
    </Page>
  )
}

function Form({ choices, preselected }: { choices: Choice[]; preselected: string }) {
  const [, navigate] = useLocation()
  const form = useSettingsForm<Values>(() => ({ ...DEFAULTS, result: preselected }), validate)
  const { values, setValues, errors, touch, set } = form

  const submit = (event: FormEvent) =>
    form.submit(event, async () => navigate(`/inferences/${(await createInference(request(values))).id}`), serverErrors)

  const text = (key: 'input_topic' | 'output_topic' | 'error_topic' | 'replicas' | 'batch', label: string, help: string,
    placeholder?: string) => (
    <Field label={label} help={help} errors={errors(key)}>
      {(props) => (
        <input {...props} autoComplete="off" spellCheck={false} value={values[key]} placeholder={placeholder}
          inputMode={key === 'replicas' || key === 'batch' ? 'numeric' : undefined}
          onChange={(event) => set(key, event.target.value)} onBlur={() => touch(key)} />
      )}
    </Field>
  )

  return (
    <form className="authoring-form" onSubmit={submit} noValidate aria-label="Inference settings">
      {form.attention && (
        <div className="state error" role="alert">
          Some settings need attention: see the messages next to them.
        </div>
      )}
      <fieldset>
        <legend>Model and input</legend>
        <div className="authoring-columns">
          <Field label="Training" errors={errors('result')} help="A finished training: its final model answers.">
            {(props) => (
              <select {...props} value={values.result} onChange={(event) => set('result', event.target.value)}
                onBlur={() => touch('result')}>
                <option value="">Choose a training…</option>
                {choices.map((choice) => (
                  <option key={choice.id} value={choice.id}>{choice.label}</option>
                ))}
              </select>
            )}
          </Field>
          <Field label="Input format" errors={errors('input_format')}
            help={values.input_format === 'RAW'
              ? 'RAW: a record’s value is the sample’s bytes (C order, little-endian).'
              : 'AVRO: a record’s value is one Avro record of numbers and arrays of numbers, without a schema header.'}>
            {(props) => (
              <select {...props} value={values.input_format}
                onChange={(event) => {
                  const format = event.target.value as Format
                  setValues((was) => ({
                    ...was,
                    input_format: format,
                    // The example follows the format until the user has written their own.
                    input_config: was.input_config === EXAMPLES[was.input_format] ? EXAMPLES[format] : was.input_config,
                  }))
                }}>
                <option value="RAW">RAW</option>
                <option value="AVRO">AVRO</option>
              </select>
            )}
          </Field>
        </div>
        <Field label="Input configuration (JSON)" errors={errors('input_config')}
          help={<>What one sample is, e.g. <code>{EXAMPLES[values.input_format]}</code>. A datasource&apos;s configuration can be reused as it is.</>}>
          {(props) => (
            <textarea {...props} className="json" rows={3} spellCheck={false} value={values.input_config}
              onChange={(event) => set('input_config', event.target.value)} onBlur={() => touch('input_config')} />
          )}
        </Field>
      </fieldset>
      <fieldset>
        <legend>Topics and workers</legend>
        <div className="authoring-columns">
          {text('input_topic', 'Input topic', 'Where the samples arrive (on the platform’s Kafka).')}
          {text('output_topic', 'Output topic', 'Where each prediction is written, with its sample’s key.')}
          {text('error_topic', 'Error topic', 'Where a record that is not a sample is answered with the reason. Empty: <output topic>-errors.',
            values.output_topic.trim() ? `${values.output_topic.trim()}-errors` : undefined)}
          {text('replicas', 'Replicas', `Workers sharing the input topic’s partitions (${RANGES.replicas[0]} to ${RANGES.replicas[1]}). Default ${DEFAULTS.replicas}.`)}
          {text('batch', 'Batch', `Most samples predicted together (${RANGES.batch[0]} to ${RANGES.batch[1]}). Empty: the worker’s default.`)}
        </div>
      </fieldset>
      {form.failure && <ErrorNotice error={form.failure} />}
      <div className="actions">
        <button type="submit" className="primary" disabled={form.busy}>
          Deploy
        </button>
        {form.busy && <span role="status">Starting the workers…</span>}
      </div>
    </form>
  )
}
