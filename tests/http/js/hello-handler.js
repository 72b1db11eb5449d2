// 200, content-type text/plain, body "hello": the wasi:http incomingHandler export style.
import { OutgoingResponse, ResponseOutparam, OutgoingBody, Fields } from 'wasi:http/types@0.2.10';

const contentType = new TextEncoder().encode('text/plain');
const hello = new TextEncoder().encode('hello');

export const incomingHandler = {
  handle(incomingRequest, responseOutparam) {
    const headers = new Fields();
    headers.append('content-type', contentType);
    const response = new OutgoingResponse(headers);
    response.setStatusCode(200);
    const body = response.body();
    ResponseOutparam.set(responseOutparam, { tag: 'ok', val: response });
    {
      const stream = body.write();
      stream.blockingWriteAndFlush(hello);
      stream[Symbol.dispose]();
    }
    OutgoingBody.finish(body, undefined);
  },
};
