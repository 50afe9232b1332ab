defmodule Demo.Application do
  @moduledoc "Starts the HTTP server (OTP's :inets httpd) under the app's supervisor."
  use Application

  @impl true
  def start(_type, _args) do
    port = Application.fetch_env!(:demo, :port)
    root = Path.join(System.tmp_dir!(), "demo-httpd-#{System.pid()}")
    File.mkdir_p!(root)

    httpd = [
      port: port,
      bind_address: Application.fetch_env!(:demo, :host),
      server_name: ~c"demo",
      server_root: String.to_charlist(root),
      document_root: String.to_charlist(root),
      modules: [Demo.Web]
    ]

    children = [
      Demo.Stats,
      %{id: :httpd, start: {:inets, :start, [:httpd, httpd, :stand_alone]}}
    ]

    result = Supervisor.start_link(children, strategy: :one_for_one, name: Demo.Supervisor)
    IO.puts("demo listening on http://127.0.0.1:#{port}")
    result
  end
end
