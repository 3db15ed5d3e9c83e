/** Classification on the server: POST /v1/predict with the file as multipart (so errors name it). */
import { errorText, type Engine, type Outcome, type Timings, type TopK } from './model.js';

export class ServerEngine implements Engine {
  readonly description = 'server: native engine';

  async classify(file: File, topK: number): Promise<Outcome> {
    const form = new FormData();
    form.append('image', file, file.name);
    const res = await fetch(`/v1/predict?top_k=${topK}`, { method: 'POST', body: form });
    if (!res.ok) return { ok: false, error: await errorText(res), ranOn: this.description };
    const body = (await res.json()) as { top: TopK; timings: Timings };
    return { ok: true, top: body.top, timings: body.timings, ranOn: this.description };
  }
}
