import { initials } from "../format";
import type { Twin } from "../types";

export function Avatar({ twin, size = 32 }: { twin: Pick<Twin, "avatar" | "codename"> | undefined; size?: number }) {
  const name = twin?.codename ?? "?";
  if (twin?.avatar) return <img class="avatar" src={twin.avatar} alt="" width={size} height={size} style={{ width: size, height: size }} />;
  return <span class="avatar avatar-initials" style={{ width: size, height: size, fontSize: size * 0.4 }} aria-hidden="true">{initials(name)}</span>;
}
