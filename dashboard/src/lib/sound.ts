// A short two-tone alert for a new alarm, synthesised with Web Audio (no asset to load).
// Browsers only let audio start after a user gesture; logging in counts as one.

let ctx: AudioContext | null = null;
let lastBeepAt = 0;

export function beep(): void {
  const now = Date.now();
  if (now - lastBeepAt < 1500) return; // a burst of alarms is one alert, not a siren
  lastBeepAt = now;
  try {
    ctx ??= new AudioContext();
    if (ctx.state === 'suspended') void ctx.resume();
    const t0 = ctx.currentTime + 0.01;
    for (const [i, freq] of [988, 740].entries()) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = 'square';
      osc.frequency.value = freq;
      const start = t0 + i * 0.18;
      gain.gain.setValueAtTime(0.0001, start);
      gain.gain.exponentialRampToValueAtTime(0.12, start + 0.01);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.16);
      osc.connect(gain).connect(ctx.destination);
      osc.start(start);
      osc.stop(start + 0.17);
    }
  } catch {
    // No audio device or policy refused: the visual flash is still there.
  }
}
