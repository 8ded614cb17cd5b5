// Typed errors across the worker boundary. Comlink alone keeps only an Error's name and message,
// not fields such as DataError.reason, CheckpointError.tensor or either's details, so the worker
// throws a plain { wireError } object and the page's client re-creates the same class with the
// same fields.
// Not here: serving or wrapping an API (rpc.ts), the errors themselves (errors.ts).

import {
  CheckpointError,
  ConfigError,
  DataError,
  DeviceLimitError,
  DeviceLostError,
  DTypeError,
  EngineError,
  InputError,
  NonFiniteError,
  ShapeError,
  WebGPUUnavailableError,
} from '../errors.js';

/** A typed error as it crosses the worker boundary. */
export interface WireError {
  name: string;
  message: string;
  /** DataError / CheckpointError reason. */
  reason?: string;
  /** CheckpointError: the entry at fault. */
  tensor?: string | null;
  /** DataError / CheckpointError: the list behind the message (tensor or file names). */
  details?: string[];
  /** NonFiniteError: the op that first produced a non-finite value. */
  op?: string;
}

/** Thrown across comlink as a plain object, so the extra fields survive; the client re-creates the class. */
export interface WireThrow {
  wireError: WireError;
}

export function toWireError(e: unknown): WireError {
  if (!(e instanceof Error)) return { name: 'Error', message: String(e) };
  const w: WireError = { name: e.name, message: e.message };
  if (e instanceof DataError || e instanceof CheckpointError) {
    w.reason = e.reason;
    w.details = [...e.details];
  }
  if (e instanceof CheckpointError) w.tensor = e.tensor;
  if (e instanceof NonFiniteError) w.op = e.op;
  return w;
}

/** The typed error a WireError describes (a plain Error with the same name for unknown classes). */
export function fromWireError(w: WireError): Error {
  const plain: Record<string, new (m: string) => EngineError> = {
    EngineError,
    WebGPUUnavailableError,
    ShapeError,
    DTypeError,
    DeviceLimitError,
    InputError,
    ConfigError,
    DeviceLostError,
  };
  const details = w.details ?? [];
  if (w.name === 'DataError') return new DataError(w.message, w.reason as DataError['reason'], details);
  if (w.name === 'CheckpointError') return new CheckpointError(w.message, w.reason as CheckpointError['reason'], w.tensor ?? null, details);
  if (w.name === 'NonFiniteError') return new NonFiniteError(w.message, w.op ?? '');
  const Cls = plain[w.name];
  if (Cls) return new Cls(w.message);
  const e = new Error(w.message);
  e.name = w.name;
  return e;
}

/** Whether a rejection from a worker is a WireThrow (a typed error in transit). */
export function isWireThrow(e: unknown): e is WireThrow {
  return typeof e === 'object' && e !== null && 'wireError' in e && typeof (e as WireThrow).wireError?.name === 'string';
}

/** Worker side: runs a method; a failure leaves as a WireThrow, so its typed fields survive comlink. */
export async function throwWire<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw { wireError: toWireError(e) } satisfies WireThrow;
  }
}

/** Page side: awaits a call into a worker; a WireThrow becomes its typed error again. */
export async function catchWire<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (e) {
    throw isWireThrow(e) ? fromWireError(e.wireError) : e;
  }
}
