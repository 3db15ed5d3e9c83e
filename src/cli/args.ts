/** Parsers for CLI option values; each error names the flag and the value. */
import { InvalidArgumentError } from 'commander';

export function positiveInt(flag: string, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isInteger(n) || n < 1) {
      throw new InvalidArgumentError(`${flag} must be a positive integer, got "${value}"`);
    }
    if (n > max) throw new InvalidArgumentError(`${flag} must be at most ${max}, got "${value}"`);
    return n;
  };
}

/** "3,224,224" → [3, 224, 224]. */
export function intList(flag: string): (value: string) => number[] {
  return (value) => {
    const parts = value.split(/[,x ]/).filter((p) => p !== '');
    const nums = parts.map(Number);
    if (parts.length === 0 || !nums.every((n, i) => /^\d+$/.test(parts[i]!) && n > 0)) {
      throw new InvalidArgumentError(
        `${flag} must be positive integers separated by commas (e.g. 3,224,224), got "${value}"`,
      );
    }
    return nums;
  };
}

export function positiveNumber(flag: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n <= 0)
      throw new InvalidArgumentError(`${flag} must be a positive number, got "${value}"`);
    return n;
  };
}

export function nonNegative(flag: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < 0)
      throw new InvalidArgumentError(`${flag} must be a number >= 0, got "${value}"`);
    return n;
  };
}

export function fraction(flag: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !(n > 0 && n < 1))
      throw new InvalidArgumentError(`${flag} must be between 0 and 1 (exclusive), got "${value}"`);
    return n;
  };
}
