// HTTP calls to the edge. Errors carry the edge's own message ({error, details}).
export class ApiError extends Error {
  constructor(public readonly status: number, message: string, public readonly details: unknown[] = []) {
    super(message);
  }
}

export function userId(): string {
  let id = localStorage.getItem("pagi.user");
  if (!id) {
    id = `user-${Math.random().toString(36).slice(2, 10)}`;
    localStorage.setItem("pagi.user", id);
  }
  return id;
}

let signedIn: string | null = null;
/** The user the edge authenticated (cookie session); else this browser's own id. */
export function setSignedInUser(user: string | null): void {
  signedIn = user;
}
export function currentUser(): string {
  return signedIn ?? userId();
}

export async function api<T>(path: string, init: RequestInit & { json?: unknown } = {}): Promise<T> {
  const headers = new Headers(init.headers);
  headers.set("X-User-Id", currentUser());
  let body = init.body;
  if (init.json !== undefined) {
    headers.set("Content-Type", "application/json");
    body = JSON.stringify(init.json);
  }
  const res = await fetch(path, { ...init, headers, body });
  const text = await res.text();
  let data: unknown = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!res.ok) {
    const obj = (data && typeof data === "object" ? data : {}) as { error?: string; details?: unknown[] };
    throw new ApiError(res.status, obj.error ?? (typeof data === "string" && data ? data.slice(0, 200) : res.statusText), obj.details ?? []);
  }
  return data as T;
}

/** A feature whose endpoint is not there (404/405/501) is "unavailable", not an error to retry. */
export function isUnavailable(err: unknown): boolean {
  return err instanceof ApiError && [404, 405, 501].includes(err.status);
}

export function errorText(err: unknown): string {
  if (err instanceof ApiError) {
    const details = err.details
      .map((d) => (d && typeof d === "object" ? Object.values(d as Record<string, unknown>).join(": ") : String(d)))
      .join("; ");
    return details ? `${err.message} (${details})` : err.message;
  }
  return err instanceof Error ? err.message : String(err);
}
