import { Publisher, connect, startFrontEnd, until, type Client, type FrontEnd } from "./harness.js";

describe("a front end that goes away and comes back", () => {
  let web1: FrontEnd;
  let web2: FrontEnd;
  let pub: Publisher;
  const clients: Client[] = [];

  afterAll(async () => {
    for (const c of clients) c.socket.disconnect();
    await pub.stop();
    await web1.close();
    await web2.close();
  });

  it("is reported while away and reached again once it is back, with no user code", async () => {
    web1 = await startFrontEnd("web-1");
    web2 = await startFrontEnd("web-2");
    pub = await Publisher.start([web1.url, web2.url]);
    const port = web2.port;
    const a = await connect(web1.port);
    clients.push(a);

    await web2.close();
    // web-2 said goodbye (a graceful close ends the session): a push to it is reported at once.
    await until(() => pub.messages("link:down").some((d) => d.peer === "web-2" && d.reason === "peer-closed"));
    const errorsBefore = pub.messages("error").length;
    expect((await pub.run(["via", "web-2"], ["emit", "while-away", 1])).value).toBe(false);
    await until(() =>
      pub
        .messages("error")
        .slice(errorsBefore)
        .some((e) => e.code === "ERR_WS_UNKNOWN_SERVER"),
    );
    // Everyone else is still served.
    await pub.run(["emit", "everyone", 1]);
    await until(() => a.got("everyone").length === 1);

    const upsBefore = pub.messages("link:up").length;
    web2 = await startFrontEnd("web-2", { port });
    await until(() => pub.messages("link:up").length > upsBefore, 20_000, "publisher relinked to web-2");

    const b = await connect(port);
    clients.push(b);
    await pub.run(["emit", "welcome-back", 2]);
    await until(() => b.got("welcome-back").length === 1 && a.got("welcome-back").length === 1);
    expect(b.got("while-away")).toEqual([]);
  });
});
