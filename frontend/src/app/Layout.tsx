/** The frame around every signed-in page: a skip link, the navigation and the user's menu. */
import type { ReactNode } from 'react'
import { Link, useLocation } from 'wouter'
import { useAuth } from '../features/auth/api/session'

const SECTIONS = [
  { href: '/trainings', label: 'Trainings' },
  { href: '/models', label: 'Models' },
  { href: '/configurations', label: 'Configurations' },
  { href: '/deployments', label: 'Deployments' },
  { href: '/inferences', label: 'Inferences' },
  { href: '/datasources', label: 'Datasources' },
  { href: '/clients', label: 'Clients' },
]

export function Layout({ children }: { children: ReactNode }) {
  const { user, signOut } = useAuth()
  const [location] = useLocation()
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <Link href="/trainings" className="brand">
          Kafka-ML <span>Federated</span>
        </Link>
        <nav aria-label="Sections">
          <ul>
            {SECTIONS.map((section) => (
              <li key={section.href}>
                <Link
                  href={section.href}
                  aria-current={location.startsWith(section.href) ? 'page' : undefined}
                >
                  {section.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <div className="user">
          <span>{user?.username}</span>
          <button type="button" onClick={() => void signOut()}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {children}
      </main>
    </>
  )
}
