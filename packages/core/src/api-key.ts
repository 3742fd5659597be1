/**
 * The shape of an environment's API key, `tr_<env>_<random>` (e.g. `tr_dev_3f9aK2...`). The v2 SDK refuses
 * any other key before sending a request ("Invalid API key"), so the server must issue keys of this shape.
 */
export const API_KEY_PATTERN = /^tr_[a-z]+_[a-zA-Z0-9]+$/;

/** Whether `key` has the shape of an API key ({@link API_KEY_PATTERN}); says nothing about its validity. */
export function isValidApiKeyShape(key: string): boolean {
  return API_KEY_PATTERN.test(key);
}
