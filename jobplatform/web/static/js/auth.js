// The API token: kept in this tab's session storage (never in the URL or a cookie).

const KEY = "jobplatform.token";

export function storedToken() {
  try {
    return sessionStorage.getItem(KEY);
  } catch (err) {
    return null;
  }
}

export function storeToken(token) {
  sessionStorage.setItem(KEY, token);
}

export function forgetToken() {
  sessionStorage.removeItem(KEY);
}
