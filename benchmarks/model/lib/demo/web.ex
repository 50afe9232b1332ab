defmodule Demo.Web do
  @moduledoc "The routes, as an httpd module: GET /, GET /health; anything else 404."
  require Record
  Record.defrecord(:mod, Record.extract(:mod, from_lib: "inets/include/httpd.hrl"))

  def unquote(:do)(data) do
    Demo.Stats.record_request()

    case {mod(data, :method), mod(data, :request_uri)} do
      {~c"GET", ~c"/"} -> reply(200, Demo.Views.render_index())
      {~c"GET", ~c"/health"} -> reply(200, "ok\n")
      _ -> reply(404, "not found\n")
    end
  end

  defp reply(status, body) do
    head = [code: status, content_type: ~c"text/plain; charset=utf-8",
            content_length: Integer.to_charlist(byte_size(body))]
    {:break, [response: {:response, head, String.to_charlist(body)}]}
  end
end
