namespace Repscope.Similarity;

/// <summary>
/// CKA between every row layer and every column layer. <c>Values[i, j]</c> is the similarity of
/// <c>Rows[i]</c> and <c>Columns[j]</c>; NaN where it is undefined (a constant representation).
/// </summary>
public sealed record CkaMatrix(IReadOnlyList<string> Rows, IReadOnlyList<string> Columns, double[,] Values)
{
    public double this[int row, int column] => Values[row, column];

    /// <summary>The values as one array per row (the form JSON results hold).</summary>
    public double[][] ValueRows()
    {
        var values = new double[Rows.Count][];
        for (int i = 0; i < Rows.Count; i++)
        {
            values[i] = new double[Columns.Count];
            for (int j = 0; j < Columns.Count; j++) { values[i][j] = Values[i, j]; }
        }
        return values;
    }

    /// <summary>The JSON form used by every command: {"rows": [...], "columns": [...], "values": [[...]]}, null where undefined.</summary>
    public CkaMatrixJson ToJson() => new(Rows.ToArray(), Columns.ToArray(), ValueRows());

    /// <summary>Writes the JSON form atomically.</summary>
    public void WriteJson(string path) => AtomicFile.WriteJson(path, ToJson());

    /// <summary>Reads a matrix written by <see cref="WriteJson"/>.</summary>
    public static CkaMatrix ReadJson(string path)
    {
        var json = System.Text.Json.JsonSerializer.Deserialize<CkaMatrixJson>(File.ReadAllText(path), JsonDefaults.Options)
                   ?? throw new RepscopeException($"{path}: empty CKA matrix file");
        if (json.Rows is null || json.Columns is null || json.Values is null || json.Values.Length != json.Rows.Length
            || json.Values.Any(r => r is null || r.Length != json.Columns.Length))
        {
            throw new RepscopeException($"{path}: not a CKA matrix (expected rows, columns and a rows x columns values array)");
        }
        var v = new double[json.Rows.Length, json.Columns.Length];
        for (int i = 0; i < json.Rows.Length; i++)
        {
            for (int j = 0; j < json.Columns.Length; j++) { v[i, j] = json.Values[i][j]; }
        }
        return new CkaMatrix(json.Rows, json.Columns, v);
    }
}

/// <summary>The JSON shape of a <see cref="CkaMatrix"/>.</summary>
public sealed record CkaMatrixJson(string[] Rows, string[] Columns, double[][] Values);
