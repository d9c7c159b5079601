import { type Alarm, ApiError, api } from './api';

export type ClaimOutcome = { ok: true; alarm: Alarm } | { ok: false; message: string; alarm?: Alarm };

/** Claims an alarm; a 409 is turned into "claimed by X" with the current holder. */
export async function claimAlarm(id: string): Promise<ClaimOutcome> {
  try {
    const { alarm } = await api.claim(id);
    return { ok: true, alarm };
  } catch (err) {
    if (err instanceof ApiError && err.status === 409) {
      try {
        const { alarm } = await api.alarm(id);
        if (alarm.status === 'closed') return { ok: false, message: 'This alarm is already closed.', alarm };
        return { ok: false, message: `Already claimed by ${alarm.claimed_by ?? 'another operator'}.`, alarm };
      } catch {
        return { ok: false, message: err.message || 'Already claimed by another operator.' };
      }
    }
    return { ok: false, message: err instanceof Error ? err.message : String(err) };
  }
}

/** "you" when the alarm is held by the logged-in user (matched by username or id). */
export function holderLabel(
  claimedBy: string | null,
  me: { id: string | number; username: string } | null,
): string {
  if (!claimedBy) return '';
  if (me && (claimedBy === me.username || claimedBy === String(me.id))) return 'you';
  return claimedBy;
}
