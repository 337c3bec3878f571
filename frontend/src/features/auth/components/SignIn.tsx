/** Sign in with the platform's account (the first administrator's is written by `kafkaml local up`). */
import { useState, type FormEvent } from 'react'
import { ApiError } from '../../../api/client'
import { Field } from '../../../components/Field'
import { ErrorNotice } from '../../../components/States'
import { useAuth } from '../api/session'

export function SignIn() {
  const { signIn } = useAuth()
  const [username, setUsername] = useState('')
  const [password, setPassword] = useState('')
  const [error, setError] = useState<ApiError | null>(null)
  const [busy, setBusy] = useState(false)

  async function submit(event: FormEvent) {
    event.preventDefault()
    setBusy(true)
    setError(null)
    try {
      await signIn(username, password)
    } catch (failure) {
      setError(failure instanceof ApiError ? failure : new ApiError(0, {}))
    } finally {
      setBusy(false)
    }
  }

  return (
    <main id="main" className="signin">
      <form onSubmit={submit} aria-labelledby="signin-title" className="card">
        <h1 id="signin-title">Sign in to Kafka-ML Federated</h1>
        {error && (
          <ErrorNotice
            error={error.status === 401 || error.status === 400 ? 'Wrong user name or password.' : error}
          />
        )}
        <Field label="User name">
          {(props) => (
            <input {...props} autoComplete="username" required value={username}
              onChange={(event) => setUsername(event.target.value)} />
          )}
        </Field>
        <Field label="Password">
          {(props) => (
            <input {...props} type="password" autoComplete="current-password" required value={password}
              onChange={(event) => setPassword(event.target.value)} />
          )}
        </Field>
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        <p className="help">
          Local mode: the first administrator's credentials are in <code>platform-admin.json</code> in the run
          directory (<code>kafkaml local status</code> shows it).
        </p>
      </form>
    </main>
  )
}
