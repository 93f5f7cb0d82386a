// Hash routing (#/bots, #/bots/<id>/conversations/<key>, …): the console is static files, so
// the server never needs to know a route.

import { useEffect, useState } from "preact/hooks";

export function currentPath(): string[] {
  const hash = window.location.hash.replace(/^#\/?/, "");
  return hash
    .split("?")[0]!
    .split("/")
    .filter((s) => s !== "")
    .map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    });
}

export function usePath(): string[] {
  const [path, setPath] = useState(currentPath());
  useEffect(() => {
    const update = () => setPath(currentPath());
    window.addEventListener("hashchange", update);
    return () => window.removeEventListener("hashchange", update);
  }, []);
  return path;
}

/** `#/a/b` from segments, each percent-encoded. */
export function href(...segments: string[]): string {
  return `#/${segments.map((s) => encodeURIComponent(s)).join("/")}`;
}

export function go(...segments: string[]): void {
  window.location.hash = href(...segments).slice(1);
}
