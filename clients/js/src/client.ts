// A small GraphQL-over-HTTP client for typed document nodes: `await client.request(VehiclesLatestDocument)` gives
// `VehiclesLatestQuery`, errors keep the server's `extensions.code`, and `paginate` walks a connection by
// endCursor. For UI caches use Apollo Client or urql with the helpers in ./apollo and ./urql instead.
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { type DocumentNode, type GraphQLFormattedError, Kind, print } from "graphql";
import { type Client as SocketClient, createClient as createSocketClient } from "graphql-ws";

export interface ErrorDetail {
  message: string;
  /** `extensions.code` (see the gateway's docs/errors.md), null when the server gave none. */
  code: string | null;
  path: ReadonlyArray<string | number>;
  extensions: Readonly<Record<string, unknown>>;
}

/** The server answered with `errors` (or a non-GraphQL HTTP error). `code` is the first error's code. */
export class Atlas4DError extends Error {
  readonly code: string;
  readonly errors: readonly ErrorDetail[];
  /** Partial data that came with the errors, if any. */
  readonly data: unknown;
  readonly status: number;

  constructor(errors: readonly ErrorDetail[], data: unknown, status: number) {
    const first = errors[0];
    super(first ? first.message + (errors.length > 1 ? ` (and ${errors.length - 1} more)` : "") : `HTTP ${status}`);
    this.name = "Atlas4DError";
    this.code = first?.code ?? `HTTP_${status}`;
    this.errors = errors;
    this.data = data;
    this.status = status;
  }
}

export interface ClientOptions {
  /** The GraphQL endpoint, e.g. http://127.0.0.1:4000/graphql. */
  url: string;
  /** Sent with every request (e.g. authorization). */
  headers?: Record<string, string>;
  /** Defaults to the global fetch (browsers, Node 18+). */
  fetch?: typeof fetch;
  /** For subscriptions: the WebSocket class; defaults to the global one (browsers, Node 22+). On Node 20,
   * pass the `ws` package's default export. */
  webSocketImpl?: unknown;
  /** For subscriptions: the ws:// URL; defaults to `url` with http(s) replaced by ws(s). */
  wsUrl?: string;
}

/** A running subscription: an async iterator of typed `data`, one per event (break or `return()` to stop). */
export interface Subscription<TData> extends AsyncIterableIterator<TData> {
  /** Resolves once the server has started the subscription: every matching row committed after that is
   * delivered. (The server handles a socket's messages in order; this is the answer to a query sent after
   * the subscribe on the same socket.) */
  readonly ready: Promise<void>;
}

export interface Connection<TNode> {
  nodes: readonly TNode[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

const ACCEPT = "application/graphql-response+json, application/json;q=0.9";

export class Atlas4DClient {
  readonly url: string;
  private readonly headers: Record<string, string>;
  private readonly fetchImpl: typeof fetch;
  private readonly printed = new WeakMap<DocumentNode, { query: string; operationName: string | undefined }>();
  private readonly options: ClientOptions;
  private socketClient: SocketClient | undefined;

  constructor(options: ClientOptions) {
    this.url = options.url;
    this.headers = options.headers ?? {};
    this.fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.options = options;
  }

  /** Runs a subscription over GraphQL over WebSocket (graphql-ws's `graphql-transport-ws`, one socket per
   * client, opened on first use); each event's typed `data`; errors reject with `Atlas4DError`. */
  subscribe<TData, TVariables extends Record<string, unknown>>(
    document: TypedDocumentNode<TData, TVariables>,
    variables?: TVariables,
  ): Subscription<TData> {
    const socket = this.socket();
    const { query, operationName } = this.text(document);
    const events = socket.iterate<TData>({ query, variables: variables ?? {}, operationName });
    const ready = new Promise<void>((resolve, reject) => {
      socket.subscribe({ query: "{ __typename }" }, { next: () => {}, error: reject, complete: resolve });
    });
    ready.catch(() => {}); // a failed start also fails the iteration; nobody has to await `ready`
    async function* data(): AsyncGenerator<TData, void, undefined> {
      try {
        for await (const result of events) {
          if (result.errors && result.errors.length > 0) {
            throw new Atlas4DError(details(result.errors), result.data ?? null, 200);
          }
          yield result.data as TData;
        }
      } catch (error) {
        // graphql-ws rejects with the `error` message's list (e.g. BAD_BBOX) or the socket's CloseEvent
        throw Array.isArray(error) ? new Atlas4DError(details(error), null, 200) : error;
      } finally {
        await events.return?.();
      }
    }
    return Object.assign(data(), { ready });
  }

  /** Closes the subscriptions' WebSocket, if one was opened. */
  async close(): Promise<void> {
    const socket = this.socketClient;
    this.socketClient = undefined;
    await socket?.dispose();
  }

  private socket(): SocketClient {
    this.socketClient ??= createSocketClient({
      url: this.options.wsUrl ?? this.url.replace(/^http/, "ws"),
      webSocketImpl: this.options.webSocketImpl,
      connectionParams: this.options.headers,
      retryAttempts: 0,
    });
    return this.socketClient;
  }

  /** Runs one operation; resolves to its typed `data`, rejects with `Atlas4DError` when there are errors. */
  async request<TData, TVariables extends Record<string, unknown>>(
    document: TypedDocumentNode<TData, TVariables>,
    variables?: TVariables,
  ): Promise<TData> {
    const { query, operationName } = this.text(document);
    const response = await this.fetchImpl(this.url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: ACCEPT, ...this.headers },
      body: JSON.stringify({ query, variables: variables ?? {}, operationName }),
    });
    const media = (response.headers.get("content-type") ?? "").split(";")[0]?.trim();
    if (media !== "application/json" && media !== "application/graphql-response+json") {
      throw new Atlas4DError([], null, response.status);
    }
    const body = (await response.json()) as { data?: TData | null; errors?: Array<Record<string, unknown>> };
    if (body.errors && body.errors.length > 0) {
      throw new Atlas4DError(body.errors.map(errorDetail), body.data ?? null, response.status);
    }
    if (!response.ok || body.data === undefined || body.data === null) {
      throw new Atlas4DError([], null, response.status);
    }
    return body.data;
  }

  /** Every node of a connection, a page at a time: runs `document` with `after` set to each page's
   * endCursor until hasNextPage is false. `connection` picks the connection out of the data. */
  async *paginate<TData, TVariables extends Record<string, unknown> & { after?: string | null }, TNode>(
    document: TypedDocumentNode<TData, TVariables>,
    variables: TVariables,
    connection: (data: TData) => Connection<TNode>,
  ): AsyncGenerator<TNode, void, undefined> {
    let after: string | null = variables.after ?? null;
    for (;;) {
      const page = connection(await this.request(document, { ...variables, after }));
      yield* page.nodes;
      if (!page.pageInfo.hasNextPage) return;
      after = page.pageInfo.endCursor;
    }
  }

  private text(document: DocumentNode): { query: string; operationName: string | undefined } {
    let cached = this.printed.get(document);
    if (cached === undefined) {
      const operation = document.definitions.find((d) => d.kind === Kind.OPERATION_DEFINITION);
      const name = operation?.kind === Kind.OPERATION_DEFINITION ? operation.name?.value : undefined;
      cached = { query: print(document), operationName: name };
      this.printed.set(document, cached);
    }
    return cached;
  }
}

function details(errors: readonly GraphQLFormattedError[]): ErrorDetail[] {
  return errors.map((e) => errorDetail(e as unknown as Record<string, unknown>));
}

function errorDetail(raw: Record<string, unknown>): ErrorDetail {
  const extensions = (raw.extensions ?? {}) as Record<string, unknown>;
  const code = extensions.code;
  return {
    message: String(raw.message ?? ""),
    code: typeof code === "string" ? code : null,
    path: Array.isArray(raw.path) ? (raw.path as Array<string | number>) : [],
    extensions,
  };
}

export function createClient(options: ClientOptions): Atlas4DClient {
  return new Atlas4DClient(options);
}
